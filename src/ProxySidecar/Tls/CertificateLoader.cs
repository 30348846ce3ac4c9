using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxySidecar.Tls;

/// <summary>
/// Reads and checks a PEM certificate pair. Pure: no state, throws <see cref="CertificateLoadException"/>
/// with the file and the reason when the pair cannot be served.
/// </summary>
internal static class CertificateLoader
{
    public static ServerCertificate Load(string certificatePath, string keyPath, DateTimeOffset now)
    {
        var (certificatePem, keyPem) = ReadPair(certificatePath, keyPath);
        return Load(certificatePem, keyPem, certificatePath, keyPath, now);
    }

    /// <summary>Reads both files; a missing or unreadable one throws naming that file.</summary>
    public static (string CertificatePem, string KeyPem) ReadPair(string certificatePath, string keyPath) =>
        (ReadText(certificatePath, "certificate"), ReadText(keyPath, "private key"));

    public static ServerCertificate Load(string certificatePem, string keyPem, string certificatePath, string keyPath, DateTimeOffset now)
    {
        var hash = Hash(certificatePem, keyPem);
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(certificatePem);
        }
        catch (CryptographicException error)
        {
            throw new CertificateLoadException(certificatePath, $"the PEM certificate cannot be parsed ({error.Message})", error);
        }

        if (all.Count == 0)
        {
            throw new CertificateLoadException(certificatePath, "it holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)");
        }

        X509Certificate2 leaf;
        try
        {
            leaf = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception error) when (error is CryptographicException or ArgumentException)
        {
            // A key of another certificate is an ArgumentException for ECDSA, a CryptographicException for RSA.
            foreach (var certificate in all)
            {
                certificate.Dispose();
            }

            throw new CertificateLoadException(keyPath, $"the private key cannot be read or does not match the certificate in {certificatePath} ({error.Message})", error);
        }

        if (!leaf.HasPrivateKey)
        {
            throw new CertificateLoadException(keyPath, $"it holds no private key for the certificate in {certificatePath}");
        }

        var notBefore = new DateTimeOffset(leaf.NotBefore.ToUniversalTime());
        var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime());
        if (now < notBefore)
        {
            leaf.Dispose();
            throw new CertificateLoadException(certificatePath, $"the certificate is not valid before {notBefore:O}");
        }

        if (now > notAfter)
        {
            leaf.Dispose();
            throw new CertificateLoadException(certificatePath, $"the certificate expired at {notAfter:O}");
        }

        var chain = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            chain.Add(all[i]);
        }

        all[0].Dispose();
        return new ServerCertificate(leaf, chain, certificatePath, hash);
    }

    /// <summary>Hash of both files' contents: what the reload poller compares.</summary>
    public static byte[] Hash(string certificatePem, string keyPem)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(certificatePem));
        sha.AppendData([0]);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(keyPem));
        return sha.GetHashAndReset();
    }

    internal static string ReadText(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException error)
        {
            throw new CertificateLoadException(path, $"the {what} file does not exist", error);
        }
        catch (DirectoryNotFoundException error)
        {
            throw new CertificateLoadException(path, $"the {what} file's directory does not exist", error);
        }
        catch (UnauthorizedAccessException error)
        {
            throw new CertificateLoadException(path, $"the {what} file cannot be read by this user", error);
        }
        catch (IOException error)
        {
            throw new CertificateLoadException(path, $"the {what} file cannot be read ({error.Message})", error);
        }
    }
}

internal sealed class CertificateLoadException(string path, string reason, Exception? inner = null)
    : Exception($"{path}: {reason}.", inner)
{
    public string Path { get; } = path;

    public string Reason { get; } = reason;
}
