using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using k8s.Models;
using ProxySidecar.Configuration;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.Tls;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>
/// The sidecar started with exactly what each rendered kustomization gives its container: the environment (with
/// secretKeyRef values from test Secrets and $(VAR) substituted as Kubernetes does), the ConfigMap and the Secrets
/// as files at their mount paths (moved under a temp directory), and, with the redis component, the rendered Redis
/// with the same password. It must start, load the certificate and the settings file, reach Redis, and purge only
/// with the token from its Secret.
/// </summary>
public sealed partial class RenderedSidecarTests
{
    public static TheoryData<string> Kustomizations() => Kustomize.RenderableData();

    [RedisKubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public async Task RenderedSettings_StartTheSidecar_WithSecretsAndSettingsFromTheCluster(string directory)
    {
        var rendered = Kustomize.Render(directory);
        var (deployment, sidecar) = Assert.Single(rendered.WithSidecar);
        var pod = deployment.Spec.Template.Spec;
        using var temp = new TempDirectory();
        using var ca = new TestCertificateAuthority();
        var issued = ca.Issue();
        var secrets = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal)
        {
            ["proxysidecar-tls"] = new() { ["tls.crt"] = issued.ChainPem, ["tls.key"] = issued.KeyPem },
            ["proxysidecar-purge"] = new() { ["token"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n" },
            ["proxysidecar-redis"] = new() { ["password"] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) },
        };

        // Volumes, as kubelet lays them out (a directory per mount; only what the rendered objects name).
        var mounts = new List<(string MountPath, string Directory)>();
        foreach (var mount in sidecar.VolumeMounts)
        {
            var volume = Assert.Single(pod.Volumes, v => v.Name == mount.Name);
            var target = temp.Combine("mounts", mount.Name);
            Directory.CreateDirectory(target);
            var files = volume switch
            {
                { Secret: { } s } => Select(secrets[s.SecretName], s.Items),
                { ConfigMap: { } c } => Select(new Dictionary<string, string>(rendered.ConfigMap(c.Name)!.Data), c.Items),
                { EmptyDir: not null } => [],
                _ => throw new InvalidOperationException($"volume {volume.Name} is of a kind this test does not lay out"),
            };
            foreach (var (file, content) in files)
            {
                File.WriteAllText(Path.Combine(target, file), content);
            }

            mounts.Add((mount.MountPath.TrimEnd('/'), target));
        }

        string Remap(string path)
        {
            var (mountPath, target) = mounts.SingleOrDefault(m => path == m.MountPath || path.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
            return mountPath is null ? path : target + path[mountPath.Length..];
        }

        // The environment, in order, as kubelet builds it.
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in sidecar.Env)
        {
            environment[variable.Name] = variable.ValueFrom?.SecretKeyRef is { } reference
                ? secrets[reference.Name][reference.Key]
                : VariableReference().Replace(variable.Value ?? "", m => environment[m.Groups[1].Value]);
        }

        await using var upstream = await TestUpstream.StartAsync();
        RenderedRedisProcess? redis = null;
        try
        {
            var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
            {
                // Defaults that name files: where the sidecar looks when nothing overrides them.
                ["Sidecar:Tls:CertificatePath"] = Remap(new TlsOptions().CertificatePath),
                ["Sidecar:Tls:KeyPath"] = Remap(new TlsOptions().KeyPath),
            };
            foreach (var (name, value) in environment)
            {
                if (name == ConfigFileExtensions.ConfigFileVariable)
                {
                    settings[ConfigFileExtensions.ConfigFileKey] = Remap(value);
                }
                else if (name.StartsWith("Sidecar__", StringComparison.Ordinal))
                {
                    settings[name.Replace("__", ":", StringComparison.Ordinal)] = value.StartsWith('/') ? Remap(value) : value;
                }
            }

            // The app on the pod's loopback, at the address the manifest gives, but on this test's port.
            Assert.Equal("http://127.0.0.1:8080", settings["Sidecar:Upstream:Address"]);
            settings["Sidecar:Upstream:Address"] = upstream.Address.ToString().TrimEnd('/');

            if (rendered.Deployments.Any(d => d.Metadata.Name == RedisManifest.DeploymentName))
            {
                redis = await RenderedRedisProcess.StartAsync(RedisManifest.From(rendered), secrets["proxysidecar-redis"]["password"]);
                var service = Assert.Single(rendered.OfKind<V1Service>(), s => s.Metadata.Name == RedisManifest.DeploymentName);
                var address = $"{service.Metadata.Name}:{service.Spec.Ports.Single().Port}";
                Assert.StartsWith(address + ",", settings["Sidecar:Cache:Redis:Configuration"], StringComparison.Ordinal);
                settings["Sidecar:Cache:Redis:Configuration"] = settings["Sidecar:Cache:Redis:Configuration"]!.Replace(address, $"127.0.0.1:{redis.Port}", StringComparison.Ordinal);
            }

            await using var host = await SidecarHost.StartAsync(settings, ca.Certificate);

            // The certificate from the TLS Secret serves HTTPS, and the app answers through it.
            using (var client = host.CreateClient())
            {
                var response = await client.GetAsync(new Uri(host.HttpsAddress, "/hello"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var status = await host.WaitForStatusAsync(
                s => redis is null || (bool?)s["sharedCache"]?["connected"] == true,
                because: "the sidecar reaches the rendered Redis with the password from the Secret");
            Assert.Equal(settings[ConfigFileExtensions.ConfigFileKey], (string?)status["configFile"]?["path"]);
            Assert.Null(status["configFile"]?["lastError"]);
            Assert.Equal(redis is null ? null : "redis", (string?)status["sharedCache"]?["store"]);

            // Purge: only with the token from its Secret; refused outright without the purge component.
            using var admin = host.CreateAdminClient();
            var purge = new Uri(host.AdminAddress, "/cache/purge?all=true");
            if (settings.ContainsKey("Sidecar:Admin:PurgeTokenFile"))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await admin.PostAsync(purge, null)).StatusCode);
                using var request = new HttpRequestMessage(HttpMethod.Post, purge);
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secrets["proxysidecar-purge"]["token"].Trim());
                Assert.Equal(HttpStatusCode.OK, (await admin.SendAsync(request)).StatusCode);
            }
            else
            {
                Assert.Equal(HttpStatusCode.Forbidden, (await admin.PostAsync(purge, null)).StatusCode);
            }
        }
        finally
        {
            if (redis is not null)
            {
                await redis.DisposeAsync();
            }
        }
    }

    private static IEnumerable<(string File, string Content)> Select(Dictionary<string, string> data, IList<V1KeyToPath>? items) =>
        items is null
            ? data.Select(p => (p.Key, p.Value))
            : items.Select(i => (i.Path, data[i.Key]));

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();
}

/// <summary>A theory that needs kubectl and redis-server (see <see cref="RedisKubectlFactAttribute"/>).</summary>
public sealed class RedisKubectlTheoryAttribute : TheoryAttribute
{
    public RedisKubectlTheoryAttribute()
    {
        if ((Kustomize.SkipReason ?? RedisServer.SkipReason) is { } reason)
        {
            Skip = reason;
        }
    }
}
