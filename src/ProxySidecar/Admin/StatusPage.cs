using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json.Nodes;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;
using ProxySidecar.WarmUp;

namespace ProxySidecar.Admin;

/// <summary>
/// <c>GET /</c> on the admin listener: the status page, for a person with a browser. Server-rendered HTML with its
/// style inline: no script, no external asset (it works air-gapped and behind <c>kubectl port-forward</c>), every
/// value HTML-encoded, refreshed by the browser every <see cref="RefreshSeconds"/> seconds. It shows what /status
/// holds (readiness and why, the certificate, the app, the cache and its rules, the shared store, warm-up, purges,
/// the configuration file, and every other section as a table); /status stays the JSON for tools.
/// </summary>
internal sealed class StatusPage(
    IServiceProvider services,
    CachePolicyProvider policies,
    ICacheOccupancy occupancy,
    CacheRuleStatus ruleFigures,
    RecentPurges purges,
    CacheWarmer warmer,
    StartupWarmUp startupWarmUp,
    TimeProvider time) : IAdminEndpoint
{
    public const int RefreshSeconds = 10;

    /// <summary>Days to the certificate's expiry under which it is shown amber, and red.</summary>
    public const int AmberDays = 14;

    public const int RedDays = 3;

    /// <summary>The /status sections this page shows in their own way; every other one is shown as a table.</summary>
    private static readonly HashSet<string> ShownSections = new(StringComparer.Ordinal)
    {
        "version", "state", "uptimeSeconds", "certificate", "upstream", "cache", "cacheRules", "warmUp", "sharedCache", "configFile",
    };

    private static readonly string Version =
        typeof(StatusPage).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    public string Method => HttpMethods.Get;

    public string Path => "/";

    public async Task HandleAsync(HttpContext context)
    {
        var page = Render();
        var headers = context.Response.Headers;
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(page, Encoding.UTF8, context.RequestAborted).ConfigureAwait(false);
    }

    public string Render()
    {
        var now = time.GetUtcNow();
        var status = services.GetServices<IAdminEndpoint>().OfType<StatusEndpoint>().FirstOrDefault()?.Build() ?? [];
        var reason = services.GetService<ReadinessEndpoint>()?.NotReadyReason();
        var page = new Page();

        page.Raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Raw($"<meta http-equiv=\"refresh\" content=\"{RefreshSeconds}\">\n")
            .Raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
            .Text($"ProxySidecar: {(reason is null ? "ready" : "not ready")}")
            .Raw("</title>\n<style>").Raw(Style).Raw("</style>\n</head>\n<body>\n<header>\n<h1>ProxySidecar <span class=\"muted\">")
            .Text(Version).Raw("</span></h1>\n");
        if (reason is null)
        {
            page.Raw("<p class=\"state good\" id=\"readiness\">Ready</p>\n");
        }
        else
        {
            page.Raw("<p class=\"state bad\" id=\"readiness\">Not ready: ").Text(reason).Raw("</p>\n");
        }

        var uptime = TimeSpan.FromSeconds(status["uptimeSeconds"]?.GetValue<double>() ?? 0);
        page.Raw("<p class=\"muted\">").Text($"State {(string?)status["state"] ?? "unknown"}, up {Duration(uptime)}. ")
            .Text($"Shown at {Time(now)}; the page refreshes every {RefreshSeconds} s. The same as JSON: /status; metrics: /metrics.")
            .Raw("</p>\n</header>\n<main>\n");

        Certificate(page, now, status["certificate"] as JsonObject);
        App(page, status["upstream"] as JsonObject);
        Cache(page);
        SharedStore(page, status["sharedCache"] as JsonObject);
        Rules(page);
        WarmUpSection(page);
        Purges(page);
        ConfigFile(page, status["configFile"] as JsonObject);
        Others(page, status);
        page.Raw("</main>\n</body>\n</html>\n");
        return page.ToString();
    }

    private static void Certificate(Page page, DateTimeOffset now, JsonObject? certificate)
    {
        page.Section("certificate", "Certificate");
        if (certificate is null)
        {
            page.Raw("<p class=\"bad\">No certificate is loaded.</p>\n</section>\n");
            return;
        }

        var notAfter = At(certificate["notAfter"]) ?? now;
        var days = (notAfter - now).TotalDays;
        var (level, words) = days < RedDays ? ("red", $"under {RedDays} days left") : days < AmberDays ? ("amber", $"under {AmberDays} days left") : ("green", "more than two weeks left");
        var daysText = days < 0 ? $"expired {Math.Floor(-days).ToString(CultureInfo.InvariantCulture)} days ago" : $"{Math.Floor(days).ToString(CultureInfo.InvariantCulture)} days to expiry";
        var names = (certificate["dnsNames"] as JsonArray)?.Select(n => (string?)n).OfType<string>().ToList() ?? [];
        page.Raw("<table>\n")
            .Row("Subject", (string?)certificate["subject"])
            .Row("Names (SAN)", names.Count == 0 ? "none" : string.Join(", ", names))
            .Raw("<tr><th>Expires</th><td><span class=\"expiry ").Raw(level).Raw("\" id=\"certificate-expiry\">").Text(daysText).Raw("</span> ")
            .Text($"({Time(notAfter)}; {words})").Raw("</td></tr>\n")
            .Row("Valid from", At(certificate["notBefore"]) is { } notBefore ? Time(notBefore) : null)
            .Row("SHA-256", (string?)certificate["thumbprintSha256"])
            .Row("Loaded from", (string?)certificate["source"]);
        if (certificate["lastReload"] is JsonObject reload && At(reload["at"]) is { } reloadAt)
        {
            var error = (string?)reload["error"];
            page.Row("Last reload", $"{Time(reloadAt)}: {(string?)reload["result"]}{(error is null ? string.Empty : " (" + error + ")")}");
        }

        if (certificate["lastError"] is JsonObject failed && At(failed["at"]) is { } failedAt)
        {
            page.Row("Last failed reload", $"{Time(failedAt)}: {(string?)failed["error"]}", "bad");
        }

        var reloads = certificate["reloads"] as JsonObject;
        page.Row("Reloads", $"{reloads?["succeeded"]} succeeded, {reloads?["failed"]} failed")
            .Raw("</table>\n</section>\n");
    }

    private static void App(Page page, JsonObject? upstream)
    {
        var up = upstream?["up"]?.GetValue<bool>() == true;
        var probe = upstream?["lastProbe"] as JsonObject;
        var probeDetail = (string?)probe?["detail"];
        page.Section("app", "App");
        page.Raw("<table>\n")
            .Row("Address", (string?)upstream?["address"])
            .Row("Health", up ? "answering" : "not answering recently", up ? "good" : "bad")
            .Row("Last answered", At(upstream?["lastAnswered"]) is { } answered ? Time(answered) : "never")
            .Row("Last probe", At(probe?["at"]) is not { } probeAt ? "none yet" : $"{Time(probeAt)}: {(probe?["succeeded"]?.GetValue<bool>() == true ? "succeeded" : "failed")}{(string.IsNullOrEmpty(probeDetail) ? string.Empty : " (" + probeDetail + ")")}")
            .Raw("</table>\n</section>\n");
    }

    /// <summary>A time written in /status (ISO 8601), or null.</summary>
    private static DateTimeOffset? At(JsonNode? value) =>
        value is JsonValue v && v.TryGetValue<DateTimeOffset>(out var at) ? at
        : value is JsonValue s && s.TryGetValue<string>(out var text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed) ? parsed
        : null;

    private void Cache(Page page)
    {
        var policy = policies.Current;
        var recent5 = ruleFigures.Build(5).Overall;
        var recent15 = ruleFigures.Build(CacheRuleStatus.WindowMinutes).Overall;
        page.Section("cache", "Cache");
        page.Raw("<table>\n")
            .Row("Enabled", policy.Enabled ? "yes" : "no (every request goes to the app)")
            .Row("Held in this process", $"{occupancy.Entries.ToString(CultureInfo.InvariantCulture)} records, {Bytes(occupancy.Bytes)}")
            .Raw("<tr><th>Hit ratio</th><td id=\"hit-ratio\">").Text($"{Ratio(recent5.Recent.HitRatio)} over 5 minutes, {Ratio(recent15.Recent.HitRatio)} over 15 minutes, {Ratio(recent15.HitRatio)} since start-up").Raw("</td></tr>\n")
            .Row("Lookups since start-up", $"{recent15.Hits} hits, {recent15.Stale} stale, {recent15.Revalidated} revalidated, {recent15.Misses} misses, {recent15.Uncacheable} uncacheable, {recent15.Bypasses} bypasses")
            .Row("Stored since start-up", $"{recent15.Stores} writes, {Bytes(recent15.StoredBytes)}")
            .Raw("</table>\n<p class=\"muted\">Hit ratio: answered from the store (fresh or stale) over every lookup the cache could have answered (all but bypasses).</p>\n</section>\n");
    }

    private void Rules(Page page)
    {
        var policy = policies.Current;
        var recent5 = ruleFigures.Build(5).Rules.ToDictionary(r => r.Rule, StringComparer.Ordinal);
        var figures = ruleFigures.Build(CacheRuleStatus.WindowMinutes);
        page.Section("rules", "Rules");
        page.Raw("<table class=\"grid\" id=\"rule-figures\">\n<tr><th>Rule</th><th>Hit ratio 5 min</th><th>15 min</th><th>since start</th><th>Hits</th><th>Stale</th><th>Revalidated</th><th>Misses</th><th>Uncacheable</th><th>Bypasses</th><th>Stored</th></tr>\n");
        foreach (var rule in figures.Rules)
        {
            var five = recent5.TryGetValue(rule.Rule, out var r5) ? r5.Recent.HitRatio : null;
            page.Raw("<tr>").Cell(rule.Rule).Cell(Ratio(five)).Cell(Ratio(rule.Recent.HitRatio)).Cell(Ratio(rule.HitRatio))
                .Cell(rule.Hits).Cell(rule.Stale).Cell(rule.Revalidated).Cell(rule.Misses).Cell(rule.Uncacheable).Cell(rule.Bypasses)
                .Cell($"{rule.Stores} ({Bytes(rule.StoredBytes)})").Raw("</tr>\n");
        }

        page.Raw("</table>\n<h3>Active rule table</h3>\n");
        if (policy.Rules.Length == 0)
        {
            page.Raw("<p>No rules: the app's headers alone decide.</p>\n");
        }
        else
        {
            page.Raw("<table class=\"grid\" id=\"rule-table\">\n<tr><th>#</th><th>Name</th><th>Path</th><th>Methods</th><th>What it does</th></tr>\n");
            for (var i = 0; i < policy.Rules.Length; i++)
            {
                var rule = policy.Rules[i];
                page.Raw("<tr>").Cell(i).Cell(rule.Name).Cell(rule.PathPattern).Cell(rule.Methods.Count == 0 ? "GET, HEAD" : string.Join(", ", rule.Methods.Order(StringComparer.Ordinal)))
                    .Cell(Describe(rule)).Raw("</tr>\n");
            }

            page.Raw("</table>\n");
        }

        page.Raw("</section>\n");
    }

    private static string Describe(CompiledRule rule)
    {
        if (rule.Bypass)
        {
            return "bypass: straight to the app";
        }

        var parts = new List<string>();
        void Add(string name, long? ms)
        {
            if (ms is { } value)
            {
                parts.Add($"{name} {(value / 1000).ToString(CultureInfo.InvariantCulture)} s");
            }
        }

        Add("default TTL", rule.DefaultTtlMs);
        Add("forced TTL", rule.ForcedTtlMs);
        Add("stale-while-revalidate", rule.StaleWhileRevalidateMs);
        Add("stale-if-error", rule.StaleIfErrorMs);
        if (rule.IgnoreQueryParameters.Length > 0)
        {
            parts.Add("ignores query parameters " + string.Join(", ", rule.IgnoreQueryParameters));
        }

        if (rule.VaryHeaders.Length > 0)
        {
            parts.Add("varies on " + string.Join(", ", rule.VaryHeaders));
        }

        if (rule.IgnoreCookies.Length > 0)
        {
            parts.Add("ignores cookies " + string.Join(", ", rule.IgnoreCookies));
        }

        if (rule.AllowSetCookie)
        {
            parts.Add("stores responses with Set-Cookie");
        }

        if (rule.IgnoreClientCacheControl)
        {
            parts.Add("ignores the client's Cache-Control");
        }

        if (rule.Tags.Length > 0)
        {
            parts.Add("tags " + string.Join(", ", rule.Tags));
        }

        return parts.Count == 0 ? "the app's headers decide" : string.Join("; ", parts);
    }

    private static void SharedStore(Page page, JsonObject? shared)
    {
        page.Section("shared-store", "Shared store");
        if (shared is null)
        {
            page.Raw("<p>None: this replica's memory store (Sidecar:Cache:Store is Memory).</p>\n</section>\n");
            return;
        }

        var connected = shared["connected"]?.GetValue<bool>() == true;
        var breaker = Text(shared["breaker"]);
        page.Raw("<table>\n")
            .Row("Redis", $"{Text(shared["state"])} ({Text(shared["endpoints"])})", connected && breaker == "closed" ? "good" : "bad")
            .Row("Connection", connected ? "connected" : "not connected", connected ? "good" : "bad")
            .Row("Breaker", breaker, breaker == "closed" ? "good" : "bad");
        if (shared["lastError"] is JsonObject error)
        {
            page.Row("Last error", Flatten(error), "bad");
        }

        page.Row("Errors (get, set, evict)", Flatten(shared["errors"]))
            .Row("Writes skipped", Text(shared["skipped"]))
            .Row("First level", Flatten(shared["localCache"]))
            .Raw("</table>\n</section>\n");
    }

    private void WarmUpSection(Page page)
    {
        page.Section("warm-up", "Warm-up");
        page.Raw("<table>\n").Row("At start-up", WarmUpStatus.StartupStateName(startupWarmUp.State));
        if (warmer.Current is { } current)
        {
            page.Row("Running", $"{current.Trigger}, since {Time(current.StartedAt)}: {current.Fetched} of {(current.Total < 0 ? "?" : current.Total.ToString(CultureInfo.InvariantCulture))} URLs");
        }

        if (warmer.Last is { } last)
        {
            page.Row("Last", $"{last.Trigger}, {Time(last.FinishedAt)}: {last.Stored} stored, {last.AlreadyCached} already cached, {last.NotCacheable} not cacheable, {last.Failed} failed, {last.NotFetched} not fetched ({last.DurationMs} ms{(last.TimedOut ? ", out of time" : string.Empty)})",
                last.Failed + last.NotFetched > 0 ? "bad" : null);
        }

        page.Raw("</table>\n</section>\n");
    }

    private void Purges(Page page)
    {
        page.Section("purges", "Recent purges");
        var recent = purges.Snapshot();
        if (recent.Length == 0)
        {
            page.Raw("<p>None since start-up.</p>\n</section>\n");
            return;
        }

        page.Raw("<table class=\"grid\">\n<tr><th>When</th><th>What</th><th>Kind</th><th>Result</th><th>Asked by</th></tr>\n");
        foreach (var purge in recent)
        {
            page.Raw("<tr>").Cell(Time(purge.At)).Cell(purge.Target).Cell(purge.Soft ? "soft" : "hard")
                .Cell(purge.Succeeded ? "done" : "failed: " + purge.Error).Cell($"{purge.Client} from {purge.Address}").Raw("</tr>\n");
        }

        page.Raw("</table>\n</section>\n");
    }

    private static void ConfigFile(Page page, JsonObject? file)
    {
        page.Section("config-file", "Configuration file");
        if (file is null)
        {
            page.Raw("<p>None: settings come from appsettings.json, the environment and the command line (Sidecar:ConfigFile is not set).</p>\n</section>\n");
            return;
        }

        page.Raw("<table>\n").Row("Path", Text(file["path"])).Row("Last reload", file["lastReload"] is null ? "none since start-up" : Text(file["lastReload"]));
        if (file["lastError"] is { } error)
        {
            page.Row("Last rejected change", Text(error), "bad");
        }

        page.Raw("</table>\n</section>\n");
    }

    private static void Others(Page page, JsonObject status)
    {
        foreach (var (name, value) in status)
        {
            if (ShownSections.Contains(name) || value is null)
            {
                continue;
            }

            page.Section("section-" + name, name);
            page.Raw("<table>\n");
            if (value is JsonObject section)
            {
                foreach (var (key, item) in section)
                {
                    page.Row(key, Flatten(item));
                }
            }
            else
            {
                page.Row(name, Flatten(value));
            }

            page.Raw("</table>\n</section>\n");
        }
    }

    /// <summary>A JSON value as one line of text: objects as key: value pairs, arrays comma-separated.</summary>
    private static string Flatten(JsonNode? node) => node switch
    {
        null => "none",
        JsonObject obj => string.Join(", ", obj.Select(p => $"{p.Key}: {Flatten(p.Value)}")),
        JsonArray array => array.Count == 0 ? "none" : string.Join(", ", array.Select(Flatten)),
        _ => Text(node),
    };

    private static string Text(JsonNode? node) => node switch
    {
        null => "none",
        JsonValue value when value.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    private static string Time(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string Ratio(double? ratio) => ratio is { } r ? (r * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "–";

    private static string Duration(TimeSpan span) =>
        span.TotalDays >= 1 ? $"{(int)span.TotalDays} d {span.Hours} h"
        : span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min"
        : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes} min {span.Seconds} s"
        : $"{span.Seconds} s";

    private static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private const string Style = """
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f4f6f8}
        header{background:#1d2430;color:#fff;padding:14px 24px}header .muted{color:#b8c2cf}
        h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:0 0 8px}h3{font-size:15px;margin:14px 0 6px}
        main{padding:16px 24px;display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(460px,1fr))}
        section{background:#fff;border:1px solid #d9dee5;border-radius:6px;padding:12px 16px;overflow-x:auto}
        #rules{grid-column:1/-1}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:3px 8px 3px 0}td{overflow-wrap:anywhere}
        th{font-weight:600;white-space:nowrap;color:#46505e}
        table.grid th,table.grid td{border-bottom:1px solid #eceff3;padding:4px 10px 4px 0}
        .muted{color:#66707d}.state{display:inline-block;font-weight:600;padding:3px 10px;border-radius:4px;margin:4px 0}
        header .state{color:#fff}header .state.good{background:#2e7d32}header .state.bad{background:#c62828}
        .good{color:#2e7d32}.bad{color:#c62828}
        .expiry{font-weight:600;padding:1px 8px;border-radius:4px;color:#fff}
        .expiry.green{background:#2e7d32}.expiry.amber{background:#e69500;color:#1d2430}.expiry.red{background:#c62828}
        """;

    /// <summary>An HTML page being written: <see cref="Raw"/> for markup, <see cref="Text"/> for every value (encoded).</summary>
    private sealed class Page
    {
        private readonly StringBuilder _html = new(16 * 1024);

        public Page Raw(string markup)
        {
            _html.Append(markup);
            return this;
        }

        public Page Text(string? value)
        {
            _html.Append(Html.Encode(value ?? string.Empty));
            return this;
        }

        public Page Section(string id, string title) => Raw("<section id=\"").Text(id).Raw("\">\n<h2>").Text(title).Raw("</h2>\n");

        public Page Row(string name, string? value, string? cssClass = null)
        {
            Raw("<tr><th>").Text(name).Raw("</th><td");
            if (cssClass is not null)
            {
                Raw(" class=\"").Text(cssClass).Raw("\"");
            }

            return Raw(">").Text(value).Raw("</td></tr>\n");
        }

        public Page Cell(string? value) => Raw("<td>").Text(value).Raw("</td>");

        public Page Cell(long value) => Cell(value.ToString(CultureInfo.InvariantCulture));

        public override string ToString() => _html.ToString();
    }
}
