using Microsoft.Extensions.Options;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;

namespace ProxySidecar;

/// <summary>
/// Everything that can stop start-up, checked before the host starts: every setting (all sections at once), then
/// the files the listeners need (certificates) and the ports they bind. Each problem becomes one line on stderr
/// (<see cref="StartupFailure"/>) and one structured log line without a stack trace; the host itself, which would
/// log the failure with its stack trace, never sees these.
/// </summary>
internal static partial class StartupChecks
{
    public const string Category = "ProxySidecar.Startup";

    public static void Run(IServiceProvider services)
    {
        try
        {
            services.ValidateSidecarOptions();
            var failures = new List<Exception>(services.GetRequiredService<LoadBeforeListening>().Run());
            foreach (var problem in ListenerCheck.Check(services.GetRequiredService<IOptions<HostingOptions>>().Value))
            {
                failures.Add(new SidecarStartupException(problem));
            }

            if (failures.Count > 0)
            {
                throw new AggregateException("The sidecar cannot start.", failures);
            }
        }
        catch (Exception error) when (StartupFailure.Describe(error) is { Count: > 0 } problems)
        {
            var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
            foreach (var problem in problems)
            {
                Log.CannotStart(logger, problem);
            }

            throw;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(13, LogLevel.Critical, "ProxySidecar cannot start: {Problem}")]
        public static partial void CannotStart(ILogger logger, string problem);
    }
}
