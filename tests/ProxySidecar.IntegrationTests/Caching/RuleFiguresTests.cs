using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Caching;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>
/// Per-rule figures: lookups by result, stores and stored bytes, labelled by rule in /metrics and listed in /status.
/// With the telemetry tests: /metrics hears the meters of every sidecar in the process.
/// </summary>
[Collection(ProxySidecar.IntegrationTests.Telemetry.TelemetryTestGroup.Name)]
public sealed class RuleFiguresTests
{
    private static readonly Dictionary<string, string?> Rules = new()
    {
        ["Sidecar:Cache:Rules:0:Name"] = "static",
        ["Sidecar:Cache:Rules:0:Path"] = "/static/**",
        ["Sidecar:Cache:Rules:1:Name"] = "api",
        ["Sidecar:Cache:Rules:1:Path"] = "/api/**",
        ["Sidecar:Cache:Rules:1:Bypass"] = "true",
        ["Sidecar:Cache:Rules:2:Name"] = "quiet",
        ["Sidecar:Cache:Rules:2:Path"] = "/quiet/**",
    };

    [Fact]
    public async Task Metrics_CacheTrafficUnderTwoRules_LookupsStoresAndBytesCarryTheRule()
    {
        await using var host = await CacheTestHost.StartAsync(Rules);
        await SendTrafficAsync(host);

        var text = await ScrapeUntilAsync(host, t => Value(t, "proxysidecar_cache_stores_total", ("rule", "static")) is not null);

        Assert.Equal(3, Value(text, "proxysidecar_cache_lookups_total", ("result", "hit"), ("rule", "static")));
        Assert.Null(Value(text, "proxysidecar_cache_lookups_total", ("result", "bypass"), ("rule", "static")));
        Assert.Equal(1, Value(text, "proxysidecar_cache_lookups_total", ("result", "bypass"), ("rule", "(none)")));
        Assert.Equal(1, Value(text, "proxysidecar_cache_lookups_total", ("result", "miss"), ("rule", "static")));
        Assert.Equal(2, Value(text, "proxysidecar_cache_lookups_total", ("result", "bypass"), ("rule", "api")));
        Assert.Equal(1, Value(text, "proxysidecar_cache_lookups_total", ("result", "miss"), ("rule", "(none)")));
        Assert.Equal(1, Value(text, "proxysidecar_cache_lookups_total", ("result", "uncacheable"), ("rule", "(none)")));
        Assert.Equal(1, Value(text, "proxysidecar_cache_stores_total", ("rule", "static")));
        Assert.True(Value(text, "proxysidecar_cache_stored_bytes_total", ("rule", "static")) >= 2048);
        Assert.Equal(1, Value(text, "proxysidecar_cache_stores_total", ("rule", "(none)")));

        // Labels come from the rule table only: a rule without traffic has no series, and no path becomes a label.
        var rules = text.Split('\n').Where(l => l.StartsWith("proxysidecar_cache_", StringComparison.Ordinal))
            .Select(l => RuleLabel(l)).OfType<string>().ToHashSet(StringComparer.Ordinal);
        Assert.Equal(new HashSet<string>(["static", "api", "(none)"], StringComparer.Ordinal), rules);
    }

    [Fact]
    public async Task Status_CacheRules_ListsEveryRuleWithItsFiguresAndHitRatio()
    {
        await using var host = await CacheTestHost.StartAsync(Rules);
        await SendTrafficAsync(host);

        var status = await host.Sidecar.WaitForStatusAsync(
            s => Rule(s, "static")?["stores"]?.GetValue<long>() == 1,
            because: "the stored response is counted under its rule");
        var section = status["cacheRules"]!;
        var figures = Rule(status, "static")!;
        var api = Rule(status, "api")!;
        var quiet = Rule(status, "quiet")!;
        var none = Rule(status, "(none)")!;

        Assert.Equal(15, (int)section["windowMinutes"]!);
        Assert.Equal(["static", "api", "quiet", "(none)"], section["rules"]!.AsArray().Select(r => (string)r!["rule"]!));
        Assert.Equal((3, 1, 0, 0), ((long)figures["hits"]!, (long)figures["misses"]!, (long)figures["bypasses"]!, (long)figures["revalidated"]!));
        Assert.True((long)figures["storedBytes"]! >= 2048);
        Assert.Equal(0.75, (double)figures["hitRatio"]!);
        Assert.Equal(4, (long)figures["recent"]!["lookups"]!);
        Assert.Equal(3, (long)figures["recent"]!["hits"]!);
        Assert.Equal(2, (long)api["bypasses"]!);
        Assert.Null(api["hitRatio"]);
        Assert.Equal(0, (long)quiet["misses"]!);
        Assert.Equal((1, 1, 1), ((long)none["misses"]!, (long)none["uncacheable"]!, (long)none["bypasses"]!));
        Assert.Equal(3, (long)section["overall"]!["hits"]!);
        Assert.Equal(0.5, (double)section["overall"]!["hitRatio"]!);
    }

    /// <summary>
    /// Under "static": a miss (stored) and three hits; under "api" (Bypass): two requests; under no rule: a miss
    /// (stored), an uncacheable response and a POST (a bypass).
    /// </summary>
    private static async Task SendTrafficAsync(CacheTestHost host)
    {
        host.Upstream.Map("/static/app.js", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            await context.Response.WriteAsync(new string('x', 2048));
        });
        host.Upstream.Map("/page", host.Respond(200, ("Cache-Control", "max-age=60")));
        host.Upstream.Map("/private", host.Respond(200, ("Cache-Control", "no-store")));
        await host.WaitUntilStoredAsync("/static/app.js");
        using (var second = await host.GetAsync("/static/app.js"))
        {
            Assert.StartsWith("ProxySidecar; hit", second.CacheStatus(), StringComparison.Ordinal);
        }

        foreach (var path in new[] { "/api/a", "/api/b", "/page", "/private" })
        {
            using var response = await host.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // An unsafe method is not looked up under any rule, even on the connection a GET under "static" used.
        using (await host.GetAsync("/static/app.js"))
        using (await host.SendAsync(HttpMethod.Post, "/static/app.js"))
        {
        }
    }

    private static JsonNode? Rule(JsonObject status, string name) =>
        status["cacheRules"]?["rules"]?.AsArray().FirstOrDefault(r => (string?)r?["rule"] == name);

    private static async Task<string> ScrapeUntilAsync(CacheTestHost host, Func<string, bool> condition)
    {
        using var admin = host.Sidecar.CreateAdminClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        string text;
        do
        {
            text = await admin.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            if (condition(text))
            {
                return text;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        return text;
    }

    /// <summary>The value of the sample of <paramref name="name"/> with exactly these labels (in any order), or null.</summary>
    private static double? Value(string text, string name, params (string Key, string Value)[] labels)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal))
            {
                continue;
            }

            var close = line.IndexOf('}', StringComparison.Ordinal);
            var pairs = line[(name.Length + 1)..close].Split(',').ToHashSet(StringComparer.Ordinal);
            if (pairs.SetEquals(labels.Select(l => $"{l.Key}=\"{l.Value}\"")))
            {
                return double.Parse(line[(close + 2)..], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    private static string? RuleLabel(string line)
    {
        var start = line.IndexOf("rule=\"", StringComparison.Ordinal);
        return start < 0 ? null : line[(start + 6)..line.IndexOf('"', start + 6)];
    }
}
