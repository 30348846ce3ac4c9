using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

internal static class CompressionTestSupport
{
    private static readonly IMeterFactory Meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    public static CompressionMetrics NewMetrics() => new(Meters);
}
