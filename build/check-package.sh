#!/usr/bin/env bash
# Packs Microsoft.ML.Generative with a unique pre-release version, then builds and runs a tiny consumer project
# against that package from a local folder feed, outside this repository (so nothing of the repo's build applies).
# It fails if the package does not restore, if TorchSharp's native library does not load through the package's own
# build/ targets, or if TorchSharp fell back to copying its natives into bin/**/cpu. The same consumer references
# Microsoft.ML.TorchSharp too: one TorchSharp must be restored and both libraries must work in one process. A second
# consumer references the library's .csproj directly (as with a clone or a git submodule) with the README's Import line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.0-ci.$(date +%s)"

dotnet pack "$root/src/Microsoft.ML.Generative/Microsoft.ML.Generative.csproj" -c Release -p:Version="$version" \
  -o "$work/feed" --nologo -v quiet
nupkg="$work/feed/Microsoft.ML.Generative.$version.nupkg"
# The listing is read once: `unzip -l | grep -q` can fail under pipefail when grep exits early (SIGPIPE).
listing=$(unzip -l "$nupkg")
for entry in build/Microsoft.ML.Generative.targets buildTransitive/Microsoft.ML.Generative.targets \
             lib/net10.0/Microsoft.ML.Generative.dll lib/net10.0/Microsoft.ML.Generative.xml; do
  grep -q " $entry\$" <<<"$listing" || { echo "check-package: $entry missing from $nupkg"; exit 1; }
done

mkdir -p "$work/consumer"
cat > "$work/consumer/NuGet.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$work/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <NoWarn>\$(NoWarn);NU1603</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.Generative" Version="$version" />
    <!-- Microsoft.ML.TorchSharp depends on TorchSharp >= 0.102.7: it must resolve to our TorchSharp 0.107.0 (NU1603). -->
    <PackageReference Include="Microsoft.ML.TorchSharp" Version="0.23.1" />
  </ItemGroup>
</Project>
XML
cat > "$work/consumer/Program.cs" <<'CS'
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Generative;
using Microsoft.ML.Generative.Losses;
using Microsoft.ML.Generative.Vae;
using Microsoft.ML.Data;
using Microsoft.ML.TorchSharp;
using Microsoft.ML.TorchSharp.NasBert;
using static TorchSharp.torch;

// 1. The losses: KL(N(0, 1) || N(0, 1)) = 0 and KL(N(1, e) || N(0, 1)) = ½(e + 1 - 1 - 1) per dimension.
using var mu = tensor(new float[] { 0, 1 }).reshape(2, 1);
using var logVar = tensor(new float[] { 0, 1 }).reshape(2, 1);
using var kl = VaeLosses.KlDivergenceStandardNormal(mu, logVar, LossReduction.None);
var values = kl.data<float>().ToArray();
double expected = 0.5 * (System.Math.E + 1 - 1 - 1);
if (System.Math.Abs(values[0]) > 1e-6 || System.Math.Abs(values[1] - expected) > 1e-5)
{
    System.Console.Error.WriteLine($"unexpected KL values {values[0]}, {values[1]}");
    return 1;
}

// 2. Microsoft.ML.TorchSharp in the same process: one of its public types, its estimator's schema.
var ml = new MLContext(seed: 1);
TextClassificationTrainer classifier = ml.MulticlassClassification.Trainers.TextClassification(labelColumnName: "Label", sentence1ColumnName: "Sentence1");
System.Console.WriteLine($"Microsoft.ML.TorchSharp {typeof(TextClassificationTrainer).Assembly.GetName().Version}: made a {classifier.GetType().Name}");

// 3. One of our models, trained and scored in that process.
var random = new System.Random(1);
var rows = Enumerable.Range(0, 256).Select(_ => new VectorRow { Features = Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble()).ToArray() }).ToArray();
var data = ml.Data.LoadFromEnumerable(rows);
var model = ml.Generative().VariationalAutoencoder(latentDimension: 2, numberOfEpochs: 2, batchSize: 64).Fit(data);
var scores = model.Transform(data).GetColumn<float>("Score").ToArray();
if (!scores.All(float.IsFinite))
{
    System.Console.Error.WriteLine("non-finite VAE scores");
    return 1;
}
var torchSharp = System.AppDomain.CurrentDomain.GetAssemblies().Where(a => a.GetName().Name == "TorchSharp").Select(a => a.GetName().Version).ToArray();
if (torchSharp.Length != 1)
{
    System.Console.Error.WriteLine($"expected one TorchSharp assembly in the process, found {torchSharp.Length}");
    return 1;
}
System.Console.WriteLine($"package consumer OK: KL = [{values[0]}, {values[1]}], VAE mean score {scores.Average():F3}, one TorchSharp {torchSharp[0]}");
return 0;

public sealed class VectorRow
{
    [Microsoft.ML.Data.VectorType(8)]
    public float[] Features { get; set; } = System.Array.Empty<float>();
}
CS

(cd "$work/consumer" && dotnet run -c Release --nologo)
if find "$work/consumer/bin" -type d -name cpu | grep -q .; then
  echo "check-package: bin/**/cpu exists: TorchSharp fell back to copying natives (the package's native fix did not apply)"
  exit 1
fi
# One TorchSharp restored for both packages.
versions=$(grep -o '"TorchSharp/[0-9.]*"' "$work/consumer/obj/project.assets.json" | sort -u)
[ "$versions" = '"TorchSharp/0.107.0"' ] || { echo "check-package: expected TorchSharp 0.107.0 only, restored: $versions"; exit 1; }

# A project outside the repository that references the library's .csproj (a clone or a git submodule) adds the one
# Import line the README gives; it must build, load TorchSharp's native library and run a model.
mkdir -p "$work/projref"
cat > "$work/projref/ProjRef.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <ProjectReference Include="$root/src/Microsoft.ML.Generative/Microsoft.ML.Generative.csproj" />
  </ItemGroup>
  <Import Project="$root/build/Microsoft.ML.Generative.targets" />
</Project>
XML
cp "$root/NuGet.config" "$work/projref/NuGet.config"
cat > "$work/projref/Program.cs" <<'CS'
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Generative;
var ml = new MLContext(seed: 1);
var random = new System.Random(1);
var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 128).Select(_ => new Row { Features = Enumerable.Range(0, 4).Select(_ => (float)random.NextDouble()).ToArray() }));
var model = ml.Generative().VariationalAutoencoder(latentDimension: 2, numberOfEpochs: 1).Fit(data);
var mean = model.Transform(data).GetColumn<float>("Score").Average();
System.Console.WriteLine($"project-reference consumer OK: mean score {mean:F3}");
return float.IsFinite(mean) ? 0 : 1;
public sealed class Row { [Microsoft.ML.Data.VectorType(4)] public float[] Features { get; set; } = System.Array.Empty<float>(); }
CS
(cd "$work/projref" && dotnet run -c Release --nologo -p:TreatWarningsAsErrors=false)
if find "$work/projref/bin" -type d -name cpu | grep -q .; then
  echo "check-package: the project-reference consumer's bin/**/cpu exists: the native fix did not apply"
  exit 1
fi
echo "check-package: OK ($version)"
