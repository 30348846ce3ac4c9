using System.Reflection;
using System.Xml.Linq;
using ProxySidecar.Tests.Repository;

namespace ProxySidecar.Tests;

/// <summary>
/// The sidecar publishes as Native AOT (bench/README.md, "Native AOT"). The AOT compile is too slow for CI, so what keeps our
/// code AOT-safe is checked here and by the normal build: the trim/AOT analyzers (warnings are errors), the
/// compile-time configuration binder and reflection-free JSON.
/// </summary>
public sealed class NativeAotReadinessTests
{
    [Theory]
    [InlineData("IsAotCompatible", "true")]
    [InlineData("EnableConfigurationBindingGenerator", "true")]
    [InlineData("JsonSerializerIsReflectionEnabledByDefault", "false")]
    public void ProjectFile_AotGuard_Set(string property, string value)
    {
        var project = XDocument.Load(Path.Combine(RepositoryLayoutTests.FindRoot(), "src", "ProxySidecar", "ProxySidecar.csproj"));

        var values = project.Descendants(property).Select(e => e.Value.Trim()).ToArray();

        Assert.Equal([value], values);
    }

    [Fact]
    public void Assembly_OptionsBinding_GeneratedAtCompileTime()
    {
        // The binder's source generator emits its interceptors into this namespace; without them options are bound
        // by reflection, which a trimmed AOT build cannot do.
        var generated = typeof(StartupFailure).Assembly.GetTypes()
            .Where(t => t.Namespace == "Microsoft.Extensions.Configuration.Binder.SourceGeneration");

        Assert.NotEmpty(generated);
    }

    [Fact]
    public void ConvertibleTypes_EveryEnumSetting_Listed()
    {
        var assembly = typeof(StartupFailure).Assembly;
        var enums = new HashSet<Type>();
        var seen = new HashSet<Type>();
        var pending = new Stack<Type>(assembly.GetTypes().Where(t => t.Name.EndsWith("Options", StringComparison.Ordinal) && t.IsClass));
        while (pending.TryPop(out var type))
        {
            if (!seen.Add(type))
            {
                continue;
            }

            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                if (propertyType.Assembly != assembly)
                {
                    continue;
                }

                if (propertyType.IsEnum)
                {
                    enums.Add(propertyType);
                }
                else if (propertyType.IsClass)
                {
                    pending.Push(propertyType);
                }
            }
        }

        Assert.NotEmpty(enums);
        Assert.All(enums, e => Assert.Contains(e, StartupFailure.ConvertibleTypes));
    }
}
