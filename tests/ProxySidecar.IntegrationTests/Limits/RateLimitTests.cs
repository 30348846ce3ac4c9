using System.Net;
using System.Text.Json.Nodes;
using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Limits.LimitsTestClients;

namespace ProxySidecar.IntegrationTests.Limits;

/// <summary>
/// Per-client rate limits through real TLS: 429 with Retry-After and problem+json beyond a rule, by rule and by
/// client (the connection's address, a trusted proxy's X-Forwarded-For, a header, a client certificate), and a
/// table of clients that stays bounded however many addresses ask.
/// </summary>
public sealed class RateLimitTests
{
    private static Dictionary<string, string?> Limit(string name, string path, int permits, string window = "01:00:00", int index = 0) => new()
    {
        [$"Sidecar:Limits:Rules:{index}:Name"] = name,
        [$"Sidecar:Limits:Rules:{index}:Path"] = path,
        [$"Sidecar:Limits:Rules:{index}:PermitLimit"] = permits.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [$"Sidecar:Limits:Rules:{index}:Window"] = window,
    };

    [Fact]
    public async Task OverTheLimit_Answers429WithRetryAfterAndProblemJson_AndNeverReachesTheApp()
    {
        await using var stack = await SidecarSetup.StartAsync(Limit("api", "/api/**", permits: 2));
        using var client = stack.CreateClient();

        using var first = await GetAsync(client, "/api/items");
        using var second = await GetAsync(client, "/api/items/7");
        using var third = await GetAsync(client, "/api/items");
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri("/api/items", UriKind.Relative)));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("3600", third.Headers.GetValues("Retry-After").Single());
        Assert.Equal("no-store", third.Headers.CacheControl?.ToString());
        Assert.Equal("application/problem+json", third.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(await third.Content.ReadAsStringAsync())!;
        Assert.Equal(429, (int)problem["status"]!);
        Assert.Equal("Too Many Requests", (string?)problem["title"]);
        Assert.Contains("\"api\"", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty((string?)problem["traceId"]));
        Assert.Equal(HttpStatusCode.TooManyRequests, head.StatusCode);
        Assert.Equal("3600", head.Headers.GetValues("Retry-After").Single());
        Assert.Equal(2, stack.Upstream.Count);
    }

    [Fact]
    public async Task OtherPaths_AreNotLimitedByARuleForOnePath()
    {
        await using var stack = await SidecarSetup.StartAsync(Limit("login", "/login", permits: 1));
        using var client = stack.CreateClient();

        using var login = await GetAsync(client, "/login");
        using var loginAgain = await GetAsync(client, "/login");
        var others = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var other = await GetAsync(client, "/products");
            others.Add(other.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, loginAgain.StatusCode);
        Assert.All(others, s => Assert.Equal(HttpStatusCode.OK, s));
    }

    [Theory]
    [InlineData("/LOGIN")]
    [InlineData("//login")]
    [InlineData("/login;jsessionid=1")]
    [InlineData("/x/../login")]
    public async Task PathTheAppReadsAsTheRulesPath_CountsAgainstTheRule(string variant)
    {
        await using var stack = await SidecarSetup.StartAsync(Limit("login", "/login", permits: 1));
        using var client = stack.CreateClient();
        using var first = await GetAsync(client, "/login");

        var raw = await RawHttps.SendAsync(stack.Sidecar, $"GET {variant} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.StartsWith("HTTP/1.1 429", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RejectionsAreCountedByRule_InStatusAndMetrics()
    {
        var settings = Limit("search", "/search", permits: 1);
        foreach (var (key, value) in Limit("export", "/export", permits: 1, index: 1))
        {
            settings[key] = value;
        }

        await using var stack = await SidecarSetup.StartAsync(settings);
        using var client = stack.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var _ = await GetAsync(client, "/search");
        }

        using (var _ = await GetAsync(client, "/export"))
        {
        }

        var status = await stack.Sidecar.GetStatusAsync();
        Assert.Equal(2, (long)Rule(status, "search")!["rejected"]!);
        Assert.Equal(0, (long)Rule(status, "export")!["rejected"]!);
        Assert.Equal(2, await MetricAsync(stack.Sidecar, "proxysidecar_limits_rate_rejected_total{rule=\"search\"}"));
        Assert.Equal(0, await MetricAsync(stack.Sidecar, "proxysidecar_limits_rate_rejected_total{rule=\"export\"}"));
    }

    [Fact]
    public async Task CacheHits_CountAgainstTheLimitToo()
    {
        await using var cache = await CacheTestHost.StartAsync(Limit("pages", "/**", permits: 3));
        cache.Upstream.Map("/page", cache.Respond(200, ("Cache-Control", "max-age=600")));

        var statuses = new List<(HttpStatusCode Status, string CacheStatus)>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await cache.GetAsync("/page");
            statuses.Add((response.StatusCode, response.CacheStatus()));
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses.Select(s => s.Status));
        Assert.Contains("hit", statuses[2].CacheStatus, StringComparison.Ordinal);
        Assert.Equal(1, cache.Hits("/page"));
    }

    [Fact]
    public async Task ClientSentXForwardedFor_IsNotBelievedWithoutTrustedProxies()
    {
        await using var stack = await SidecarSetup.StartAsync(Limit("api", "/api/**", permits: 2));
        using var client = stack.CreateClient();
        var statuses = new List<HttpStatusCode>();
        for (var i = 1; i <= 3; i++)
        {
            using var response = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Forwarded-For", $"203.0.113.{i}"));
            statuses.Add(response.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
    }

    [Fact]
    public async Task TrustedProxy_XForwardedForNamesTheClient_EachCountedApart()
    {
        var settings = Limit("api", "/api/**", permits: 1);
        settings["Sidecar:Limits:TrustedProxies:0"] = "127.0.0.1";
        await using var stack = await SidecarSetup.StartAsync(settings);
        using var client = stack.CreateClient();

        // A client can prepend whatever it likes; the proxy appends the address it saw, and that one counts.
        using var alice = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Forwarded-For", "198.51.100.1, 203.0.113.10"));
        using var aliceAgain = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Forwarded-For", "198.51.100.2, 203.0.113.10"));
        using var bob = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Forwarded-For", "203.0.113.20"));

        Assert.Equal(HttpStatusCode.OK, alice.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, aliceAgain.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
    }

    [Fact]
    public async Task ByHeader_EachValueHasItsOwnLimit_AndARequestWithoutItCountsByAddress()
    {
        var settings = Limit("keys", "/api/**", permits: 1);
        settings["Sidecar:Limits:Rules:0:PartitionBy"] = "Header";
        settings["Sidecar:Limits:Rules:0:Header"] = "X-Api-Key";
        await using var stack = await SidecarSetup.StartAsync(settings);
        using var client = stack.CreateClient();

        using var one = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Api-Key", "one"));
        using var oneAgain = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Api-Key", "one"));
        using var two = await GetAsync(client, "/api/x", r => r.Headers.Add("X-Api-Key", "two"));
        using var none = await GetAsync(client, "/api/x");
        using var noneAgain = await GetAsync(client, "/api/x");

        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, oneAgain.StatusCode);
        Assert.Equal(HttpStatusCode.OK, two.StatusCode);
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, noneAgain.StatusCode);
    }

    [Fact]
    public async Task ByClientCertificate_EachVerifiedSubjectHasItsOwnLimit()
    {
        using var clientCa = new TestCertificateAuthority("Limits Test Client CA");
        using var temp = new TempDirectory();
        var caPath = temp.Combine("ca.crt");
        File.WriteAllText(caPath, clientCa.Certificate.ExportCertificatePem());
        var settings = Limit("services", "/**", permits: 1);
        settings["Sidecar:Limits:Rules:0:PartitionBy"] = "ClientCertificate";
        settings["Sidecar:Tls:ClientCertificate:Mode"] = "Allow";
        settings["Sidecar:Tls:ClientCertificate:CaPath"] = caPath;
        await using var stack = await SidecarSetup.StartAsync(settings);
        using var billingCertificate = clientCa.Issue("billing", clientAuth: true).ToX509();
        using var reportingCertificate = clientCa.Issue("reporting", clientAuth: true).ToX509();
        using var billing = stack.Sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [billingCertificate]);
        using var reporting = stack.Sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [reportingCertificate]);

        using var b1 = await GetAsync(billing, "/x");
        using var b2 = await GetAsync(billing, "/x");
        using var r1 = await GetAsync(reporting, "/x");

        Assert.Equal(HttpStatusCode.OK, b1.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, b2.StatusCode);
        Assert.Equal(HttpStatusCode.OK, r1.StatusCode);
    }

    [Fact]
    public async Task ManyClientAddresses_TheTableOfClientsStaysBounded_AndNewcomersShareTheOverflow()
    {
        var settings = Limit("api", "/**", permits: 1);
        settings["Sidecar:Limits:MaxPartitions"] = "3";
        await using var stack = await SidecarSetup.StartAsync(settings);

        var statuses = new List<HttpStatusCode>();
        var highest = 0;
        for (var n = 2; n <= 21; n++)
        {
            using var client = CreateClientFrom(stack.Sidecar, Loopback(n));
            using var response = await GetAsync(client, "/x");
            statuses.Add(response.StatusCode);
            highest = Math.Max(highest, (int)Rule(await stack.Sidecar.GetStatusAsync(), "api")!["partitions"]!);
        }

        var rule = Rule(await stack.Sidecar.GetStatusAsync(), "api")!;
        // Three clients have a bucket of their own; the other seventeen share one bucket of one request.
        Assert.Equal(3, highest);
        Assert.Equal(3, (int)rule["partitions"]!);
        Assert.Equal(17, (long)rule["overflowed"]!);
        Assert.Equal(4, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(16, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal(17, await MetricAsync(stack.Sidecar, "proxysidecar_limits_rate_overflowed_total{rule=\"api\"}"));
    }

    [Fact]
    public async Task IdleClients_LeaveTheTable_SoNewOnesGetTheirOwnBuckets()
    {
        var settings = Limit("api", "/**", permits: 1, window: "00:00:00.2");
        settings["Sidecar:Limits:MaxPartitions"] = "2";
        await using var stack = await SidecarSetup.StartAsync(settings);
        for (var n = 2; n <= 3; n++)
        {
            using var client = CreateClientFrom(stack.Sidecar, Loopback(n));
            using var response = await GetAsync(client, "/x");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Their buckets refill within 0.2 s; the heartbeat then drops them (a full bucket limits as a new one does).
        await EventuallyAsync(async () => (int)Rule(await stack.Sidecar.GetStatusAsync(), "api")!["partitions"]! == 0, "idle partitions are dropped");
        using var newcomer = CreateClientFrom(stack.Sidecar, Loopback(4));
        using var served = await GetAsync(newcomer, "/x");

        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(0, (long)Rule(await stack.Sidecar.GetStatusAsync(), "api")!["overflowed"]!);
    }

    [Fact]
    public async Task SlidingWindow_RefusesBeyondThePermitsOfTheWindow_WithRetryAfter()
    {
        var settings = Limit("window", "/**", permits: 2, window: "00:01:00");
        settings["Sidecar:Limits:Rules:0:Algorithm"] = "SlidingWindow";
        settings["Sidecar:Limits:Rules:0:SegmentsPerWindow"] = "6";
        await using var stack = await SidecarSetup.StartAsync(settings);
        using var client = stack.CreateClient();

        using var first = await GetAsync(client, "/x");
        using var second = await GetAsync(client, "/x");
        using var third = await GetAsync(client, "/x");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("10", third.Headers.GetValues("Retry-After").Single());
    }
}
