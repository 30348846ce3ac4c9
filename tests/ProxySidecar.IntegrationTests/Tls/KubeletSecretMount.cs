using System.Globalization;
using System.Runtime.InteropServices;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>
/// A directory laid out exactly as kubelet mounts a secret: each version in a timestamped
/// <c>..2026_11_26_04_17_11.123456789</c> directory, a <c>..data</c> symlink to the current one, and
/// <c>tls.crt -> ..data/tls.crt</c>, <c>tls.key -> ..data/tls.key</c> that never change. An update writes
/// a new timestamped directory, points <c>..data_tmp</c> at it, renames that over <c>..data</c> (atomic),
/// then removes the old directory — kubelet's AtomicWriter.
/// </summary>
internal sealed class KubeletSecretMount
{
    private int _version;

    public KubeletSecretMount(string path, IReadOnlyDictionary<string, string> files)
    {
        Path = path;
        Directory.CreateDirectory(path);
        Update(files);
        foreach (var name in files.Keys)
        {
            File.CreateSymbolicLink(System.IO.Path.Combine(path, name), System.IO.Path.Combine("..data", name));
        }
    }

    public string Path { get; }

    public string CertificatePath => System.IO.Path.Combine(Path, "tls.crt");

    public string KeyPath => System.IO.Path.Combine(Path, "tls.key");

    /// <summary>The directory <c>..data</c> points at now.</summary>
    public string CurrentVersionDirectory => System.IO.Path.Combine(Path, new FileInfo(System.IO.Path.Combine(Path, "..data")).LinkTarget!);

    public static KubeletSecretMount ForPair(string path, string certificatePem, string keyPem) =>
        new(path, Pair(certificatePem, keyPem));

    public static Dictionary<string, string> Pair(string certificatePem, string keyPem) => new(StringComparer.Ordinal)
    {
        ["tls.crt"] = certificatePem,
        ["tls.key"] = keyPem,
    };

    /// <summary>Publishes a new version of the secret with exactly <paramref name="files"/> in it.</summary>
    public void Update(IReadOnlyDictionary<string, string> files)
    {
        var stamp = DateTime.UtcNow.ToString("yyyy_MM_dd_HH_mm_ss", CultureInfo.InvariantCulture) + "." + (++_version).ToString("D9", CultureInfo.InvariantCulture);
        var versionName = ".." + stamp;
        var versionDirectory = System.IO.Path.Combine(Path, versionName);
        Directory.CreateDirectory(versionDirectory);
        foreach (var (name, content) in files)
        {
            File.WriteAllText(System.IO.Path.Combine(versionDirectory, name), content);
        }

        var data = System.IO.Path.Combine(Path, "..data");
        var previous = File.Exists(data) || Directory.Exists(data) ? new FileInfo(data).LinkTarget : null;
        var temporary = System.IO.Path.Combine(Path, "..data_tmp");
        File.CreateSymbolicLink(temporary, versionName);
        if (Rename(temporary, data) != 0)
        {
            throw new IOException($"rename({temporary}, {data}) failed: errno {Marshal.GetLastWin32Error()}");
        }

        if (previous is not null)
        {
            Directory.Delete(System.IO.Path.Combine(Path, previous), recursive: true);
        }
    }

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string oldPath, string newPath);
}
