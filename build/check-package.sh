#!/usr/bin/env bash
# Packs Microsoft.ML.Generative with a unique pre-release version, then builds and runs a tiny consumer project
# against that package from a local folder feed, outside this repository (so nothing of the repo's build applies).
# It fails if the package does not restore, if TorchSharp's native library does not load through the package's own
# build/ targets, or if TorchSharp fell back to copying its natives into bin/**/cpu.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="0.1.0-ci.$(date +%s)"

dotnet pack "$root/src/Microsoft.ML.Generative/Microsoft.ML.Generative.csproj" -c Release -p:Version="$version" \
  -o "$work/feed" --nologo -v quiet
nupkg="$work/feed/Microsoft.ML.Generative.$version.nupkg"
for entry in build/Microsoft.ML.Generative.targets buildTransitive/Microsoft.ML.Generative.targets \
             lib/net10.0/Microsoft.ML.Generative.dll lib/net10.0/Microsoft.ML.Generative.xml; do
  unzip -l "$nupkg" | grep -q " $entry\$" || { echo "check-package: $entry missing from $nupkg"; exit 1; }
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
  </ItemGroup>
</Project>
XML
cat > "$work/consumer/Program.cs" <<'CS'
using Microsoft.ML.Generative.Losses;
using static TorchSharp.torch;

// KL(N(0, 1) || N(0, 1)) = 0 and KL(N(1, e) || N(0, 1)) = ½(e + 1 - 1 - 1) per dimension.
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
System.Console.WriteLine($"package consumer OK: KL = [{values[0]}, {values[1]}]");
return 0;
CS

(cd "$work/consumer" && dotnet run -c Release --nologo)
if find "$work/consumer/bin" -type d -name cpu | grep -q .; then
  echo "check-package: bin/**/cpu exists: TorchSharp fell back to copying natives (the package's native fix did not apply)"
  exit 1
fi
echo "check-package: OK ($version)"
