using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using ProxySidecar.Configuration;
using ProxySidecar.Proxy;

namespace ProxySidecar.WarmUp;

internal enum StartupWarmUpState
{
    NotConfigured,
    WaitingForStart,
    WaitingForApp,
    Running,
    Done,
    TimedOut,
    Failed,
}

/// <summary>
/// The start-up warm-up (<c>Sidecar:WarmUp:Urls</c> and <c>Sitemap</c>): once the listeners are up and the app
/// answers, fetches the URLs through the cache; until then readiness says why it is not ready. Bounded by
/// <c>Sidecar:WarmUp:Timeout</c> from the moment the listeners are up: after it, readiness no longer waits, whatever
/// the app does, and the fetches still under way are cancelled.
/// </summary>
internal sealed partial class StartupWarmUp(
    CacheWarmer warmer,
    IOptions<WarmUpOptions> options,
    IHostApplicationLifetime lifetime,
    UpstreamHealth upstream,
    LastGoodOptions<UpstreamOptions> upstreamOptions,
    TimeProvider time,
    ILogger<StartupWarmUp> logger) : BackgroundService, IReadinessCheck
{
    /// <summary>How often the app's health is looked at while waiting for it.</summary>
    internal static readonly TimeSpan AppPollInterval = TimeSpan.FromMilliseconds(200);

    private readonly WarmUpOptions _options = options.Value;
    private int _state = (int)(IsConfigured(options.Value) ? StartupWarmUpState.WaitingForStart : StartupWarmUpState.NotConfigured);
    private long _deadlineTicks = long.MaxValue;

    public StartupWarmUpState State => (StartupWarmUpState)Volatile.Read(ref _state);

    /// <summary>When readiness stops waiting for the warm-up (set when the listeners are up).</summary>
    public DateTimeOffset? Deadline => Volatile.Read(ref _deadlineTicks) is var ticks && ticks == long.MaxValue ? null : new DateTimeOffset(ticks, TimeSpan.Zero);

    public static bool IsConfigured(WarmUpOptions options) => options.Urls.Count > 0 || !string.IsNullOrEmpty(options.Sitemap);

    public string? NotReadyReason()
    {
        var state = State;
        if (state is StartupWarmUpState.NotConfigured or StartupWarmUpState.Done or StartupWarmUpState.TimedOut or StartupWarmUpState.Failed)
        {
            return null;
        }

        if (Deadline is { } deadline && time.GetUtcNow() >= deadline)
        {
            return null;
        }

        var until = Deadline is { } d ? $"; ready at the latest at {d:yyyy-MM-ddTHH:mm:ssZ}" : $"; at most {_options.Timeout} once listening";
        return state switch
        {
            StartupWarmUpState.WaitingForApp => "warming the cache: waiting for the app to answer" + until,
            StartupWarmUpState.Running when warmer.Current is { Total: >= 0 } progress => $"warming the cache: {progress.Fetched} of {progress.Total} URLs fetched" + until,
            StartupWarmUpState.Running => "warming the cache: reading the sitemap" + until,
            _ => "warming the cache: waiting for the listeners" + until,
        };
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (State == StartupWarmUpState.NotConfigured)
        {
            return;
        }

        try
        {
            await WhenStartedAsync(stoppingToken).ConfigureAwait(false);
            Volatile.Write(ref _deadlineTicks, (time.GetUtcNow() + _options.Timeout).UtcTicks);
            using var timeout = new CancellationTokenSource(_options.Timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
            try
            {
                SetState(StartupWarmUpState.WaitingForApp);
                await WaitForAppAsync(linked.Token).ConfigureAwait(false);
                SetState(StartupWarmUpState.Running);
                var plan = new WarmUpPlan(
                    [.. _options.Urls.Select(WarmUpUrls.Parse).OfType<Uri>()],
                    WarmUpUrls.Parse(_options.Sitemap),
                    _options.Concurrency,
                    _options.MaxUrls,
                    [],
                    "start-up");
                var summary = await warmer.RunAsync(plan, wait: true, linked.Token).ConfigureAwait(false);
                if (timeout.IsCancellationRequested || summary?.TimedOut == true)
                {
                    throw new OperationCanceledException(timeout.Token);
                }

                SetState(StartupWarmUpState.Done);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !stoppingToken.IsCancellationRequested)
            {
                Log.TimedOut(logger, _options.Timeout);
                SetState(StartupWarmUpState.TimedOut);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            SetState(StartupWarmUpState.Done);
        }
        catch (Exception error)
        {
            // Never a reason to stay unready, nor to stop the host.
            Log.Failed(logger, error);
            SetState(StartupWarmUpState.Failed);
        }
    }

    private Task WhenStartedAsync(CancellationToken cancellationToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        return started.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Until the app has answered (the readiness condition), so the first URLs are not lost to a 502.</summary>
    private async Task WaitForAppAsync(CancellationToken cancellationToken)
    {
        if (upstream.IsUp(upstreamOptions.Current))
        {
            return;
        }

        using var timer = new PeriodicTimer(AppPollInterval, time);
        while (!upstream.IsUp(upstreamOptions.Current))
        {
            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void SetState(StartupWarmUpState state) => Volatile.Write(ref _state, (int)state);

    private static partial class Log
    {
        [LoggerMessage(906, LogLevel.Warning, "The start-up cache warm-up did not finish within {Timeout}; the sidecar turns ready without it (see warmUp in /status).")]
        public static partial void TimedOut(ILogger logger, TimeSpan timeout);

        [LoggerMessage(907, LogLevel.Error, "The start-up cache warm-up failed; the sidecar turns ready without it.")]
        public static partial void Failed(ILogger logger, Exception error);
    }
}

/// <summary>The <c>warmUp</c> section of /status: the start-up warm-up's state, the warm-up under way and the last one.</summary>
internal sealed class WarmUpStatus(CacheWarmer warmer, StartupWarmUp startup) : IStatusContributor
{
    public string Name => "warmUp";

    public object GetStatus()
    {
        var current = warmer.Current;
        var last = warmer.Last;
        return new WarmUpStatusBody(
            StartupStateName(startup.State),
            startup.Deadline,
            current is null ? null : new WarmUpProgressBody(current.Trigger, current.StartedAt, current.Total, current.Fetched),
            last is null ? null : last with { Urls = [] });
    }

    public static string StartupStateName(StartupWarmUpState state) => state switch
    {
        StartupWarmUpState.NotConfigured => "not configured",
        StartupWarmUpState.WaitingForStart => "waiting for the listeners",
        StartupWarmUpState.WaitingForApp => "waiting for the app",
        StartupWarmUpState.Running => "running",
        StartupWarmUpState.Done => "done",
        StartupWarmUpState.TimedOut => "timed out",
        _ => "failed",
    };
}

internal sealed record WarmUpStatusBody(string Startup, DateTimeOffset? StartupDeadline, WarmUpProgressBody? Running, WarmUpSummary? Last);

internal sealed record WarmUpProgressBody(string Trigger, DateTimeOffset StartedAt, int Total, int Fetched);
