using System.Net.Security;
using System.Security.Authentication;

namespace ProxySidecar.Tls;

/// <summary>
/// Mozilla "intermediate" (v6.0): TLS 1.2 and 1.3 only; on TLS 1.2 only ECDHE key exchange with
/// AES-GCM or ChaCha20-Poly1305. Kestrel's platform default also offers CBC suites, so the list is explicit.
/// </summary>
internal static class TlsPolicy
{
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    public static readonly TlsCipherSuite[] CipherSuites =
    [
        // TLS 1.3
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,

        // TLS 1.2
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    /// <summary>ALPN: HTTP/2 preferred, HTTP/1.1 otherwise.</summary>
    public static readonly List<SslApplicationProtocol> ApplicationProtocols =
    [
        SslApplicationProtocol.Http2,
        SslApplicationProtocol.Http11,
    ];

    /// <summary>Built once: OpenSSL parses the suite list when the policy is created.</summary>
    public static CipherSuitesPolicy CreateCipherSuitesPolicy() => new(CipherSuites);
}
