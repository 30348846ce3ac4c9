using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ProxySidecar.Tls;

/// <summary>One loaded certificate pair, immutable: what handshakes use and what /status shows.</summary>
internal sealed class ServerCertificate
{
    public ServerCertificate(X509Certificate2 leaf, X509Certificate2Collection chain, string source, byte[] contentHash)
    {
        Leaf = leaf;
        Chain = chain;
        Source = source;
        ContentHash = contentHash;
        Context = SslStreamCertificateContext.Create(leaf, chain, offline: true);
        DnsNames = ReadDnsNames(leaf);
    }

    public X509Certificate2 Leaf { get; }

    /// <summary>Intermediates served after the leaf.</summary>
    public X509Certificate2Collection Chain { get; }

    public SslStreamCertificateContext Context { get; }

    /// <summary>Where it came from: a file path or "generated".</summary>
    public string Source { get; }

    /// <summary>Hash of the certificate and key file contents it was loaded from.</summary>
    public byte[] ContentHash { get; }

    public IReadOnlyList<string> DnsNames { get; }

    public string Subject => Leaf.Subject;

    public string Thumbprint => Leaf.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);

    public DateTimeOffset NotAfter => new(Leaf.NotAfter.ToUniversalTime());

    public DateTimeOffset NotBefore => new(Leaf.NotBefore.ToUniversalTime());

    private static List<string> ReadDnsNames(X509Certificate2 certificate)
    {
        var names = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                names.AddRange(san.EnumerateDnsNames());
                names.AddRange(san.EnumerateIPAddresses().Select(ip => ip.ToString()));
            }
        }

        return names;
    }
}
