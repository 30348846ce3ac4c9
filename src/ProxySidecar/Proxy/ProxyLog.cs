using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Proxy;

internal static partial class ProxyLog
{
    [LoggerMessage(301, LogLevel.Warning, "Forwarding {Method} {Path} failed ({Error}); answered {Status}. Trace {TraceId}.")]
    public static partial void ForwardFailed(ILogger logger, Exception? exception, ForwarderError error, string method, string path, int status, string traceId);

    [LoggerMessage(306, LogLevel.Debug, "Forwarding {Method} {Path} stopped by the client ({Error}); answered {Status}. Trace {TraceId}.")]
    public static partial void ForwardStoppedByClient(ILogger logger, ForwarderError error, string method, string path, int status, string traceId);

    [LoggerMessage(302, LogLevel.Information, "Upstream is now {Address}.")]
    public static partial void UpstreamChanged(ILogger logger, string address);

    [LoggerMessage(303, LogLevel.Warning, "The app at {Address} does not answer: {Reason}.")]
    public static partial void UpstreamDown(ILogger logger, string address, string reason);

    [LoggerMessage(304, LogLevel.Information, "The app at {Address} answers again.")]
    public static partial void UpstreamUp(ILogger logger, string address);

    [LoggerMessage(305, LogLevel.Information, "Using the ReverseProxy configuration section as is; Sidecar:Upstream:Address is used for readiness probes only.")]
    public static partial void UsingReverseProxySection(ILogger logger);
}
