// The library compiles against publicized copies of Microsoft.ML.Core and Microsoft.ML.Data (build/Publicize.targets)
// to use ML.NET's first-party save/load pattern. This attribute tells CoreCLR to allow those accesses at run time
// against the original assemblies.
using System;

[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Honoured by CoreCLR: lets this assembly access non-public members of the named assembly.</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute : Attribute
    {
        public IgnoresAccessChecksToAttribute(string assemblyName) => AssemblyName = assemblyName;

        public string AssemblyName { get; }
    }
}
