using System.Net;
using System.Net.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using ProxySidecar.Tls;

namespace ProxySidecar.Hosting;

/// <summary>
/// The two listeners: HTTPS on the public port (certificate chosen per handshake from the
/// <see cref="CertificateStore"/>), and the plain-HTTP admin port. Connections on the admin
/// listener are marked so the pipeline can tell them apart without trusting the Host header.
/// </summary>
internal static class Listeners
{
    private const string RedirectMarker = "ProxySidecar.RedirectListener";

    /// <summary>True for a request that arrived on the plain-HTTP redirect listener (answered with 308, never forwarded).</summary>
    public static bool IsRedirect(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(RedirectMarker) == true;

    /// <summary>Per connection, the unread request bytes Kestrel buffers: 64 KiB, or the largest request head if larger.</summary>
    public static long RequestBufferBytes(HostingOptions hosting) =>
        Math.Max(64 * 1024, (long)hosting.MaxRequestHeadersTotalBytes + hosting.MaxRequestLineBytes);

    /// <param name="beforeTls">Connection middleware for the public listener, run before the TLS handshake (the per-client connection limit).</param>
    public static void Configure(
        KestrelServerOptions kestrel,
        HostingOptions hosting,
        TlsOptions tls,
        CertificateStore certificates,
        IEnumerable<ITlsHandshakeCustomizer> customizers,
        Http2ConnectionGuard? http2Guard = null,
        Func<ConnectionDelegate, ConnectionDelegate>? beforeTls = null)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.MaxConcurrentConnections = hosting.MaxConnections;
        kestrel.Limits.MaxRequestBodySize = hosting.MaxRequestBodyBytes;
        kestrel.Limits.MaxRequestHeadersTotalSize = hosting.MaxRequestHeadersTotalBytes;
        kestrel.Limits.MaxRequestHeaderCount = hosting.MaxRequestHeaderCount;
        kestrel.Limits.MaxRequestLineSize = hosting.MaxRequestLineBytes;
        kestrel.Limits.RequestHeadersTimeout = hosting.RequestHeadersTimeout;
        kestrel.Limits.KeepAliveTimeout = hosting.KeepAliveTimeout;
        kestrel.Limits.MinRequestBodyDataRate = hosting.MinRequestBodyBytesPerSecond > 0
            ? new MinDataRate(hosting.MinRequestBodyBytesPerSecond, hosting.MinRequestBodyGracePeriod)
            : null;

        // What one connection may hold of a request the app has not read yet (Kestrel's default is 1 MiB): enough for
        // the largest request head, so that many connections sending bodies faster than the app reads them stay small.
        kestrel.Limits.MaxRequestBufferSize = RequestBufferBytes(hosting);

        // Header values are bytes to a proxy: Latin-1 maps each byte to one char and back, so obs-text and UTF-8 in
        // a request header reach the app, and in the app's response headers reach the client, byte for byte (the
        // upstream handler does the same on its side). Kestrel then rejects only CR, LF and NUL in response values.
        kestrel.RequestHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;
        kestrel.ResponseHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;

        // With the policy in OpenSSL's configuration, no per-connection list: OpenSSL keeps its session cache.
        var cipherSuites = OpenSslTlsPolicy.Applied ? null : TlsPolicy.CreateCipherSuitesPolicy();
        var customizerList = customizers.ToArray();
        kestrel.Listen(IPAddress.Parse(hosting.ListenAddress), hosting.HttpsPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            if (beforeTls is not null)
            {
                listen.Use(beforeTls);
            }

            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                HandshakeTimeout = tls.HandshakeTimeout,
                OnConnection = context =>
                {
                    var certificate = certificates.Current
                        ?? throw new InvalidOperationException("No server certificate is loaded yet.");
                    var options = new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = certificate.Context,
                        EnabledSslProtocols = TlsPolicy.Protocols,
                        CipherSuitesPolicy = cipherSuites,
                        ApplicationProtocols = TlsPolicy.ApplicationProtocols,
                        AllowRenegotiation = false,
                        AllowTlsResume = true,
                    };
                    foreach (var customizer in customizerList)
                    {
                        customizer.Customize(context, options);
                    }

                    return ValueTask.FromResult(options);
                },
            });

            // After TLS: sees the negotiated protocol and the plain HTTP/2 frames.
            if (http2Guard is not null)
            {
                listen.Use(http2Guard.Wrap);
            }
        });

        kestrel.Listen(IPAddress.Parse(hosting.AdminListenAddress), hosting.AdminPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.Use(next => connection =>
            {
                Admin.AdminListener.Mark(connection.Items);
                return next(connection);
            });
        });

        if (hosting.HttpRedirectPort is { } redirectPort)
        {
            kestrel.Listen(IPAddress.Parse(hosting.ListenAddress), redirectPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(next => connection =>
                {
                    connection.Items[RedirectMarker] = true;
                    return next(connection);
                });
            });
        }
    }
}

/// <summary>Lets a feature (client certificates, for one) adjust the TLS options of each handshake.</summary>
internal interface ITlsHandshakeCustomizer
{
    void Customize(TlsHandshakeCallbackContext context, SslServerAuthenticationOptions options);
}
