using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using ProxySidecar.Hosting;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxySidecar.Tls;

/// <summary>
/// Mutual TLS on the public listener: asks for a client certificate and checks it against the
/// client CA bundle only (no system roots, no network), with the client-authentication usage.
/// </summary>
internal sealed class ClientCertificateCustomizer(ClientCertificateAuthority authority) : ITlsHandshakeCustomizer
{
    private static readonly RemoteCertificateValidationCallback RequireCertificate =
        static (_, _, _, errors) => errors == SslPolicyErrors.None;

    // Allow: no certificate is fine; a certificate that does not verify is not (as Envoy and nginx do).
    private static readonly RemoteCertificateValidationCallback AllowCertificate =
        static (_, _, _, errors) => errors is SslPolicyErrors.None or SslPolicyErrors.RemoteCertificateNotAvailable;

    public void Customize(TlsHandshakeCallbackContext context, SslServerAuthenticationOptions options)
    {
        if (!authority.Enabled)
        {
            return;
        }

        // Fail closed: without a CA bundle no client certificate can be verified, so no handshake completes.
        var bundle = authority.Current ?? throw new InvalidOperationException("Client certificates are on but no client CA bundle is loaded.");

        options.ClientCertificateRequired = true;
        options.CertificateChainPolicy = bundle.CreatePolicy();
        options.RemoteCertificateValidationCallback = authority.Mode == ClientCertificateMode.Require ? RequireCertificate : AllowCertificate;

        // A resumed session skips certificate verification; with client certificates every connection is checked
        // against the CA bundle of the moment.
        options.AllowTlsResume = false;
    }
}

/// <summary>
/// Passes a verified client certificate to the app in one header, Envoy's <c>X-Forwarded-Client-Cert</c>
/// shape: <c>Hash=&lt;SHA-256 of the DER, hex&gt;;Subject="&lt;subject DN&gt;"</c>. A client-sent copy is always removed.
/// </summary>
internal sealed class ClientCertificateForwarding(Microsoft.Extensions.Options.IOptions<TlsOptions> options) : Proxy.IForwardingTransform
{
    public const string HeaderName = "X-Forwarded-Client-Cert";

    private const string ConnectionItem = "ProxySidecar.ClientCertificateHeader";

    /// <summary>
    /// Only with client certificates on (Mode needs a restart): with Mode None no request carries a verified
    /// certificate, and the shared forwarding transforms already drop a client-sent copy of the header.
    /// </summary>
    public void Apply(TransformBuilderContext context)
    {
        if (options.Value.ClientCertificate is { Mode: not ClientCertificateMode.None })
        {
            context.AddRequestTransform(SetHeader);
        }
    }

    /// <summary>The header value for a certificate.</summary>
    public static string Format(X509Certificate2 certificate)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
        var subject = certificate.Subject.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
        return $"Hash={hash};Subject=\"{subject}\"";
    }

    private static ValueTask SetHeader(RequestTransformContext context)
    {
        // Whatever the client sent under this name never reaches the app.
        RequestTransform.TakeHeader(context, HeaderName);

        // Only the public HTTPS listener verifies client certificates; a certificate present here passed that check.
        var http = context.HttpContext;
        if (!http.Request.IsHttps || http.Connection.ClientCertificate is not { } certificate)
        {
            return ValueTask.CompletedTask;
        }

        var items = http.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items?.TryGetValue(ConnectionItem, out var cached) != true || cached is not string value)
        {
            value = Format(certificate);
            if (items is not null)
            {
                items[ConnectionItem] = value;
            }
        }

        RequestTransform.AddHeader(context, HeaderName, value);
        return ValueTask.CompletedTask;
    }
}
