using System.Collections.ObjectModel;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Telemetry;

/// <summary>
/// ActivitySource and Meter listeners are process-wide: a tracer provider in one in-process sidecar also
/// sees the spans of every other host running at the same time. Telemetry tests therefore run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryTestGroup
{
    public const string Name = "Telemetry (process-wide listeners)";
}

/// <summary>A list the exporter may add to while the test reads it.</summary>
public sealed class SynchronizedList<T> : Collection<T>
{
    private readonly Lock _gate = new();

    public T[] Snapshot()
    {
        lock (_gate)
        {
            return [.. Items];
        }
    }

    protected override void InsertItem(int index, T item)
    {
        lock (_gate)
        {
            base.InsertItem(index, item);
        }
    }

    protected override void ClearItems()
    {
        lock (_gate)
        {
            base.ClearItems();
        }
    }
}

/// <summary>A sidecar in front of a test app, with a certificate from a test CA that expires in 20 days.</summary>
public sealed class TelemetryRig : IAsyncDisposable
{
    private readonly SidecarSetup _setup;

    private TelemetryRig(SidecarSetup setup, DateTimeOffset notAfter)
    {
        _setup = setup;
        CertificateNotAfter = notAfter;
    }

    public TestUpstream Upstream => _setup.Upstream;

    public SidecarHost Sidecar => _setup.Sidecar;

    public DateTimeOffset CertificateNotAfter { get; }

    public static async Task<TelemetryRig> StartAsync(
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null,
        string? upstreamAddress = null)
    {
        var notAfter = DateTimeOffset.UtcNow.AddDays(20);
        var all = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>(), StringComparer.OrdinalIgnoreCase);
        if (upstreamAddress is not null)
        {
            all["Sidecar:Upstream:Address"] = upstreamAddress;
        }

        var setup = await SidecarSetup.StartAsync(all, configureServices: configureServices, certificateNotAfter: notAfter);
        return new TelemetryRig(setup, notAfter);
    }

    /// <summary>
    /// A client for the public port that sends exactly the trace headers the test sets (its own handler
    /// injects none), as a browser or another service's client would.
    /// </summary>
    public HttpClient CreateClient()
    {
        var handler = Sidecar.CreateHandler();
        handler.ActivityHeadersPropagator = null;
        return new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = Sidecar.HttpsAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public ValueTask DisposeAsync() => _setup.DisposeAsync();
}

/// <summary>W3C trace context helpers.</summary>
public static class TraceContext
{
    /// <summary>A fresh sampled traceparent, as a client that traces would send it.</summary>
    public static (string Header, ActivityTraceId TraceId, ActivitySpanId SpanId) NewTraceparent(bool sampled = true)
    {
        var traceId = ActivityTraceId.CreateRandom();
        var spanId = ActivitySpanId.CreateRandom();
        return ($"00-{traceId.ToHexString()}-{spanId.ToHexString()}-{(sampled ? "01" : "00")}", traceId, spanId);
    }

    /// <summary>Splits a traceparent header into trace id and parent span id.</summary>
    public static (string TraceId, string ParentId) Parse(string? traceparent)
    {
        Assert.NotNull(traceparent);
        var parts = traceparent.Split('-');
        Assert.Equal(4, parts.Length);
        return (parts[1], parts[2]);
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails with <paramref name="because"/> after the deadline.</summary>
    public static Task<T> WaitForAsync<T>(Func<T> read, Func<T, bool> condition, string because, TimeSpan? timeout = null) =>
        WaitForAsync(read, condition, () => because, timeout);

    /// <summary>Polls until <paramref name="condition"/> holds; the failure message is built when it is needed.</summary>
    public static async Task<T> WaitForAsync<T>(Func<T> read, Func<T, bool> condition, Func<string> because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        var value = read();
        while (!condition(value))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting: {because()}");
            }

            await Task.Delay(20);
            value = read();
        }

        return value;
    }
}
