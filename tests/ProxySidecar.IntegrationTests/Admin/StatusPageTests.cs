using System.Net;
using System.Text.RegularExpressions;
using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Admin;

/// <summary>GET / on the admin port: the status page, rendered by a real headless browser.</summary>
public sealed partial class StatusPageTests
{
    private const string Token = "status-page-token-0123456789";

    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Sidecar:Admin:PurgeToken"] = Token,
        ["Sidecar:Cache:Rules:0:Name"] = "static",
        ["Sidecar:Cache:Rules:0:Path"] = "/static/**",
        ["Sidecar:Cache:Rules:0:DefaultTtl"] = "00:10:00",
        ["Sidecar:Cache:Rules:1:Name"] = "api",
        ["Sidecar:Cache:Rules:1:Path"] = "/api/**",
        ["Sidecar:Cache:Rules:1:Bypass"] = "true",
    };

    [ChromiumFact]
    public async Task Page_InHeadlessChromium_ShowsReadinessCertificateCacheRulesAndPurges()
    {
        await using var setup = await SidecarSetup.StartAsync(Settings, certificateNotAfter: DateTimeOffset.UtcNow.AddDays(60));
        var sidecar = setup.Sidecar;
        await sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        setup.Upstream.Map("/static/app.js", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "js");
        });
        // Exactly a miss and a hit under "static": the second request waits until the first one's response is stored.
        using var client = setup.CreateClient();
        using (await client.GetAsync(new Uri("/static/app.js", UriKind.Relative)))
        {
        }

        await sidecar.WaitForStatusAsync(s => s["cacheRules"]!["rules"]!.AsArray().Any(r => (string?)r!["rule"] == "static" && (long)r["stores"]! == 1));
        using (var hit = await client.GetAsync(new Uri("/static/app.js", UriKind.Relative)))
        {
            Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);
        }

        using (await client.GetAsync(new Uri("/api/orders", UriKind.Relative)))
        {
        }

        await PurgeAsync(sidecar, "url=" + Uri.EscapeDataString("https://localhost/static/old.js"), userAgent: "release-pipeline/7");

        var dom = await HeadlessChromium.DumpDomAsync(sidecar.AdminAddress);
        var text = Text(dom);

        Assert.Contains("<meta http-equiv=\"refresh\" content=\"10\">", dom, StringComparison.Ordinal);
        Assert.Contains("Ready", Element(dom, "readiness"), StringComparison.Ordinal);
        Assert.Contains("Subject CN=localhost", text, StringComparison.Ordinal);
        Assert.Contains("Names (SAN) localhost", text, StringComparison.Ordinal);
        Assert.Matches(@"^(59|60) days to expiry$", Element(dom, "certificate-expiry"));
        Assert.Contains("class=\"expiry green\"", dom, StringComparison.Ordinal);
        Assert.Contains($"Address {setup.Upstream.Address}", text, StringComparison.Ordinal);
        Assert.Contains("Health answering", text, StringComparison.Ordinal);

        // Rules: a miss and a hit under "static" (50 %), a bypass under "api" (no ratio), the table as configured.
        var figures = Element(dom, "rule-figures");
        Assert.Matches(@"static 50\.0 % 50\.0 % 50\.0 % 1 0 0 1 0 0 1 \(", Text(figures));
        Assert.Contains("api – – – 0 0 0 0 0 1 0 (0 B)", Text(figures), StringComparison.Ordinal);
        var table = Text(Element(dom, "rule-table"));
        Assert.Contains("0 static /static/** GET, HEAD default TTL 600 s", table, StringComparison.Ordinal);
        Assert.Contains("1 api /api/** GET, HEAD bypass: straight to the app", table, StringComparison.Ordinal);
        Assert.Contains("50.0 % over 5 minutes, 50.0 % over 15 minutes, 50.0 % since start-up", Element(dom, "hit-ratio"), StringComparison.Ordinal);

        Assert.Contains("Shared store None: this replica's memory store", text, StringComparison.Ordinal);
        Assert.Contains("url https://localhost/static/old.js hard done release-pipeline/7 from 127.0.0.1", text, StringComparison.Ordinal);
        Assert.Contains("At start-up not configured", text, StringComparison.Ordinal);
        Assert.Contains("Configuration file None", text, StringComparison.Ordinal);

        // Every other /status section, as a table.
        Assert.Contains("<h2>memory</h2>", dom, StringComparison.Ordinal);
        Assert.Contains("<h2>telemetry</h2>", dom, StringComparison.Ordinal);
    }

    [ChromiumFact]
    public async Task Page_Screenshot_IsAPng()
    {
        await using var host = await CacheTestHost.StartAsync(Settings);
        using var shots = new TempDirectory();
        var path = shots.Combine("status-page.png");

        await HeadlessChromium.ScreenshotAsync(host.Sidecar.AdminAddress, path);

        var bytes = await File.ReadAllBytesAsync(path);
        Assert.True(bytes.Length > 10_000, $"the screenshot has only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
    }

    [Theory]
    [InlineData(60, "green")]
    [InlineData(10, "amber")]
    [InlineData(2, "red")]
    public async Task Page_CertificateExpiry_GreenAmberUnder14DaysRedUnder3(int days, string level)
    {
        await using var setup = await SidecarSetup.StartAsync(certificateNotAfter: DateTimeOffset.UtcNow.AddDays(days).AddHours(1));

        var html = await PageAsync(setup.Sidecar);

        Assert.Contains($"<span class=\"expiry {level}\" id=\"certificate-expiry\">{days} days to expiry</span>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Page_NotReady_SaysWhy()
    {
        await using var setup = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = "http://127.0.0.1:9" });

        var html = await PageAsync(setup.Sidecar);

        Assert.Contains("<p class=\"state bad\" id=\"readiness\">Not ready: the app at http://127.0.0.1:9 has not answered recently", html, StringComparison.Ordinal);
        Assert.Contains("<title>ProxySidecar: not ready</title>", html, StringComparison.Ordinal);
    }

    /// <summary>Values come from settings and clients (rule names, a purger's User-Agent): none may become markup.</summary>
    [ChromiumFact]
    public async Task Page_ValuesFromSettingsAndClients_AreHtmlEncoded()
    {
        await using var setup = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Admin:PurgeToken"] = Token,
            ["Sidecar:Cache:Rules:0:Name"] = "<b id=\"injected-rule\">bold</b>",
            ["Sidecar:Cache:Rules:0:Path"] = "/x/**",
        });
        await PurgeAsync(setup.Sidecar, "tag=release", userAgent: "<img id=\"injected-agent\" src=x>");

        var html = await PageAsync(setup.Sidecar);
        var dom = await HeadlessChromium.DumpDomAsync(setup.Sidecar.AdminAddress);

        Assert.Contains("&lt;b id=&quot;injected-rule&quot;&gt;bold&lt;/b&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b id=\"injected-rule\"", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("<img id=\"injected-agent\"", dom, StringComparison.Ordinal);
        Assert.Contains("<b id=\"injected-rule\">bold</b>", Text(dom), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Page_NeedsNoScriptNorAnyOtherAsset()
    {
        await using var host = await CacheTestHost.StartAsync();
        using var admin = host.Sidecar.CreateAdminClient();

        using var response = await admin.GetAsync(new Uri("/", UriKind.Relative));
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.StartsWith("default-src 'none'; style-src 'unsafe-inline'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("no-store", response.Headers.CacheControl!.ToString());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch("(src|href)=", html);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Page_OnThePublicPort_IsTheApps()
    {
        await using var host = await CacheTestHost.StartAsync();

        using var response = await host.GetAsync("/");

        Assert.Equal("upstream:/", response.Body());
    }

    private static async Task<string> PageAsync(SidecarHost sidecar)
    {
        using var admin = sidecar.CreateAdminClient();
        return await admin.GetStringAsync(new Uri("/", UriKind.Relative));
    }

    private static async Task PurgeAsync(SidecarHost sidecar, string query, string userAgent)
    {
        using var admin = sidecar.CreateAdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/purge?" + query, UriKind.Relative));
        request.Headers.Authorization = new("Bearer", Token);
        request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        using var response = await admin.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The inner HTML of the element with <paramref name="id"/>.</summary>
    private static string Element(string html, string id)
    {
        var match = Regex.Match(html, $"<(?<tag>[a-z0-9]+)[^>]* id=\"{Regex.Escape(id)}\"[^>]*>(?<inner>.*?)</\\k<tag>>", RegexOptions.Singleline);
        Assert.True(match.Success, $"no element with id {id}");
        return match.Groups["inner"].Value;
    }

    /// <summary>The text a reader sees: tags dropped, entities decoded, whitespace collapsed.</summary>
    private static string Text(string html) =>
        WebUtility.HtmlDecode(Whitespace().Replace(Tags().Replace(Styles().Replace(html, " "), " "), " ")).Trim();

    [GeneratedRegex("<style>.*?</style>", RegexOptions.Singleline)]
    private static partial Regex Styles();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tags();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
