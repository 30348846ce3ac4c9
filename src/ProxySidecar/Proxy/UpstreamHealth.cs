using System.Net.Sockets;
using ProxySidecar.Configuration;

namespace ProxySidecar.Proxy;

/// <summary>
/// Whether the app answered recently: from the periodic probe and from every forwarded response.
/// </summary>
internal sealed class UpstreamHealth(TimeProvider time)
{
    private long _lastAnsweredTicks;
    private ProbeResult _lastProbe = new(DateTimeOffset.MinValue, false, "not probed yet");

    /// <summary>When the app last answered, probe or real traffic; null if never.</summary>
    public DateTimeOffset? LastAnswered
    {
        get
        {
            var ticks = Interlocked.Read(ref _lastAnsweredTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    public ProbeResult LastProbe => Volatile.Read(ref _lastProbe);

    public void MarkAnswered() => Interlocked.Exchange(ref _lastAnsweredTicks, time.GetUtcNow().UtcTicks);

    public void MarkFailed(string reason) =>
        Volatile.Write(ref _lastProbe, new ProbeResult(time.GetUtcNow(), false, reason));

    public void RecordProbe(bool succeeded, string detail)
    {
        Volatile.Write(ref _lastProbe, new ProbeResult(time.GetUtcNow(), succeeded, detail));
        if (succeeded)
        {
            MarkAnswered();
        }
    }

    /// <summary>The readiness rule: the app answered within three probe intervals (and no probe failed since).</summary>
    public bool IsUp(UpstreamOptions options) => AnsweredWithin(options.ProbeInterval * 3);

    /// <summary>True when the app answered within <paramref name="window"/> and the last probe did not fail since.</summary>
    public bool AnsweredWithin(TimeSpan window)
    {
        var answered = LastAnswered;
        if (answered is null)
        {
            return false;
        }

        var probe = LastProbe;
        if (!probe.Succeeded && probe.At > answered.Value)
        {
            return false;
        }

        return time.GetUtcNow() - answered.Value <= window;
    }
}

internal sealed record ProbeResult(DateTimeOffset At, bool Succeeded, string Detail);

/// <summary>Probes the app every <see cref="UpstreamOptions.ProbeInterval"/>: a TCP connect, or GET of the probe path.</summary>
internal sealed class UpstreamProbeService(
    UpstreamHealth health,
    LastGoodOptions<UpstreamOptions> options,
    TimeProvider time,
    ILogger<UpstreamProbeService> logger) : BackgroundService
{
    private static readonly HttpClient ProbeClient = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),

        // Probes are not traffic: no client span, no traceparent sent to the app.
        ActivityHeadersPropagator = null,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var wasUp = (bool?)null;
        while (!stoppingToken.IsCancellationRequested)
        {
            var upstream = options.Current;
            var (up, detail) = await ProbeAsync(upstream, stoppingToken).ConfigureAwait(false);
            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            health.RecordProbe(up, detail);
            if (up != wasUp)
            {
                if (up)
                {
                    ProxyLog.UpstreamUp(logger, upstream.Address);
                }
                else
                {
                    ProxyLog.UpstreamDown(logger, upstream.Address, detail);
                }

                wasUp = up;
            }

            try
            {
                await Task.Delay(upstream.ProbeInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    internal static async Task<(bool Up, string Detail)> ProbeAsync(UpstreamOptions upstream, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(upstream.Address, UriKind.Absolute, out var address))
        {
            return (false, "invalid address");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(upstream.ConnectTimeout);
        try
        {
            if (string.IsNullOrEmpty(upstream.ProbePath))
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(address.Host, address.Port, timeout.Token).ConfigureAwait(false);
                return (true, "TCP connect succeeded");
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(address, upstream.ProbePath));
            if (upstream.Protocol == UpstreamProtocol.Http2)
            {
                // An h2c app (gRPC) speaks nothing but HTTP/2; probe it the way requests reach it.
                request.Version = System.Net.HttpVersion.Version20;
                request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            }

            using var response = await ProbeClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return (status < 500, $"GET {upstream.ProbePath} answered {status}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, $"no answer within {upstream.ConnectTimeout}");
        }
        catch (Exception error) when (error is SocketException or HttpRequestException or IOException)
        {
            return (false, error.Message);
        }
    }
}
