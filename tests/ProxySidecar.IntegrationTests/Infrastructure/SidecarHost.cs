using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// The real sidecar, started by its own entry point (Program.cs: AddProxySidecar / UseProxySidecar) through
/// <see cref="WebApplicationFactory{TEntryPoint}"/> on real Kestrel (<c>UseKestrel()</c>), with real TLS on 127.0.0.1
/// ports picked by the OS. Settings are given with <c>UseSetting</c>, which reaches the entry point as command-line
/// arguments, so they are visible while the builder runs, as in production.
/// </summary>
public sealed class SidecarHost : IAsyncDisposable
{
    private readonly SidecarFactory _factory;
    private readonly IHost _host;
    private readonly X509Certificate2? _trustedCa;

    private SidecarHost(SidecarFactory factory, IHost host, X509Certificate2? trustedCa, Uri https, Uri admin, IReadOnlyCollection<string> urls)
    {
        _factory = factory;
        _host = host;
        _trustedCa = trustedCa;
        HttpsAddress = https;
        AdminAddress = admin;
        Urls = urls;
    }

    /// <summary>https://127.0.0.1:{port}/</summary>
    public Uri HttpsAddress { get; }

    /// <summary>http://127.0.0.1:{port}/</summary>
    public Uri AdminAddress { get; }

    /// <summary>The plain-HTTP redirect listener, when Sidecar:Hosting:HttpRedirectPort was given a port.</summary>
    public Uri? HttpRedirectAddress { get; private init; }

    /// <summary>Every address the server listens on.</summary>
    public IReadOnlyCollection<string> Urls { get; }

    public IServiceProvider Services => _host.Services;

    /// <summary>
    /// What every in-process sidecar adds to <see cref="SidecarRig.Listeners"/>: a short drain, and logs at Warning but
    /// for the sidecar's own (the hosts of a test run share one console).
    /// </summary>
    public static Dictionary<string, string?> InProcessDefaults() => SidecarRig.Merge(SidecarRig.Listeners(), new Dictionary<string, string?>
    {
        ["Sidecar:Hosting:DrainTimeout"] = "00:00:05",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:ProxySidecar"] = "Information",
        ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Warning",
    });

    /// <summary>
    /// Starts a sidecar. <paramref name="settings"/> are configuration keys ("Sidecar:Upstream:Address") added to
    /// <see cref="InProcessDefaults"/> (a null value removes a key). <paramref name="configureServices"/> runs after the
    /// sidecar's own registrations (to swap in a FakeTimeProvider, an in-memory exporter ...).
    /// </summary>
    public static async Task<SidecarHost> StartAsync(
        IDictionary<string, string?> settings,
        X509Certificate2? trustedCa = null,
        string environment = "Production",
        Action<IServiceCollection>? configureServices = null)
    {
        var all = SidecarRig.Merge(InProcessDefaults(), settings);
        var factory = new SidecarFactory(all, environment, configureServices);
        factory.UseKestrel();
        try
        {
            // Builds and starts the host on the entry point's thread; blocking, so off the test's thread.
            await Task.Run(factory.StartServer);
        }
        catch
        {
            await factory.DisposeHostAsync();
            throw;
        }

        var host = factory.Host!;
        var addresses = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        var https = new Uri(addresses.Single(a => a.StartsWith("https://", StringComparison.Ordinal)));

        // An optional plain-HTTP redirect listener is given a fixed port by the test; the other http:// address is admin.
        var redirectPort = all.TryGetValue("Sidecar:Hosting:HttpRedirectPort", out var redirect) && int.TryParse(redirect, out var p) && p != 0 ? p : (int?)null;
        var plain = addresses.Where(a => a.StartsWith("http://", StringComparison.Ordinal)).Select(a => new Uri(a)).ToList();
        var admin = plain.Single(a => a.Port != redirectPort);
        return new SidecarHost(factory, host, trustedCa, https, admin, addresses)
        {
            HttpRedirectAddress = plain.SingleOrDefault(a => a.Port == redirectPort),
        };
    }

    /// <summary>A handler that trusts only the test CA (and checks the name), like a real client would.</summary>
    public SocketsHttpHandler CreateHandler(Action<SslClientAuthenticationOptions>? configureTls = null)
    {
        var ca = _trustedCa;
        var tls = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateAgainst(ca, certificate, errors),
        };
        configureTls?.Invoke(tls);
        return new SocketsHttpHandler
        {
            SslOptions = tls,
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        };
    }

    /// <summary>A client for the public HTTPS port (HTTP/1.1 unless <paramref name="version"/> says otherwise).</summary>
    public HttpClient CreateClient(Version? version = null, Action<SslClientAuthenticationOptions>? configureTls = null) =>
        new(CreateHandler(configureTls), disposeHandler: true)
        {
            BaseAddress = HttpsAddress,
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>A plain client for the admin port.</summary>
    public HttpClient CreateAdminClient() =>
        new(new SocketsHttpHandler { UseProxy = false }, disposeHandler: true)
        {
            BaseAddress = AdminAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };

    public async Task<JsonObject> GetStatusAsync()
    {
        using var client = CreateAdminClient();
        var json = await client.GetStringAsync(new Uri("/status", UriKind.Relative));
        return JsonNode.Parse(json)!.AsObject();
    }

    /// <summary>Polls /status until <paramref name="condition"/> holds; fails after <paramref name="timeout"/>.</summary>
    public async Task<JsonObject> WaitForStatusAsync(Func<JsonObject, bool> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        JsonObject status;
        do
        {
            status = await GetStatusAsync();
            if (condition(status))
            {
                return status;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"/status never satisfied the condition{(because is null ? "" : " (" + because + ")")}; last: {status.ToJsonString()}");
    }

    /// <summary>Polls /healthz/ready until it answers <paramref name="expected"/>.</summary>
    public async Task WaitForReadinessAsync(HttpStatusCode expected, TimeSpan? timeout = null)
    {
        using var client = CreateAdminClient();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        HttpStatusCode last;
        do
        {
            using var response = await client.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
            last = response.StatusCode;
            if (last == expected)
            {
                return;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"/healthz/ready stayed {last}, expected {expected}.");
    }

    /// <summary>Asks the host to stop, as SIGTERM does; returns the task that completes when it has.</summary>
    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        try
        {
            // Stops the host, then disposes it.
            await _factory.DisposeAsync();
        }
        catch (OperationCanceledException)
        {
            await _factory.DisposeHostAsync();
        }
    }

    internal static bool ValidateAgainst(X509Certificate2? ca, X509Certificate? presented, SslPolicyErrors errors)
    {
        if (ca is null || presented is null)
        {
            return false;
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData()));
    }

    /// <summary>
    /// The sidecar's entry point under test: settings as host settings (visible before <c>builder.Build()</c>), the
    /// executable's directory as content root, test services registered after the sidecar's own.
    /// </summary>
    private sealed class SidecarFactory(
        IReadOnlyDictionary<string, string?> settings,
        string environment,
        Action<IServiceCollection>? configureServices) : WebApplicationFactory<Program>
    {
        /// <summary>The started host (WebApplicationFactory.Services does not reach it when Kestrel serves).</summary>
        public IHost? Host { get; private set; }

        /// <summary>After a failed start or stop: the host, if one was built, is disposed; nothing else is left to stop.</summary>
        public async Task DisposeHostAsync()
        {
            if (Host is IAsyncDisposable host)
            {
                await host.DisposeAsync();
            }
            else
            {
                Host?.Dispose();
            }
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment(environment);
            builder.UseContentRoot(AppContext.BaseDirectory);
            foreach (var (key, value) in settings)
            {
                if (value is not null)
                {
                    builder.UseSetting(key, value);
                }
            }

            if (configureServices is not null)
            {
                builder.ConfigureTestServices(configureServices);
            }
        }

        protected override IHost CreateHost(IHostBuilder builder)
        {
            Host = builder.Build();
            Host.Start();
            return Host;
        }
    }
}
