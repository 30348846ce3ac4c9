using ProxySidecar.Caching;

namespace ProxySidecar.Tests.Caching;

/// <summary>
/// The cache's decision for a GET or HEAD as a table: the stored entry (none; a Vary record only; or an entry with
/// its age, lifetime, stale-while-revalidate window and flags), the request's directives and what it carries, and
/// the expected action, fwd reason, whether concurrent requests wait for one forward, and the detail.
/// </summary>
public sealed class CacheDecisionTests
{
    // Entry: "none", "vary" (a Vary record, no variant), or "age=A life=L [swr=S] [no-cache] [must-revalidate] [no-share]" in seconds.
    // Request: its Cache-Control, then words: "pragma" (Pragma: no-cache), "head", "waitless" (may not coalesce), "hfm" (hit-for-miss), "bypass", "body".
    [Theory]
    // Nothing stored.
    [InlineData("none", "", "Forward", "UriMiss", true, null)]
    [InlineData("vary", "", "Forward", "VaryMiss", true, null)]
    [InlineData("none", "| head", "Forward", "UriMiss", false, null)]
    [InlineData("none", "| waitless", "Forward", "UriMiss", false, null)]
    [InlineData("none", "| hfm", "Forward", "UriMiss", false, null)]
    [InlineData("none", "only-if-cached", "OnlyIfCachedMiss", "UriMiss", false, null)]
    // Fresh.
    [InlineData("age=10 life=60", "", "Hit", "UriMiss", false, null)]
    [InlineData("age=10 life=60", "max-age=20", "Hit", "UriMiss", false, null)]
    [InlineData("age=10 life=60", "max-age=5", "Revalidate", "Request", false, null)]
    [InlineData("age=10 life=60", "min-fresh=40", "Hit", "UriMiss", false, null)]
    [InlineData("age=10 life=60", "min-fresh=55", "Revalidate", "Request", false, null)]
    [InlineData("age=10 life=60", "no-cache", "Revalidate", "Request", false, null)]
    [InlineData("age=10 life=60", "| pragma", "Revalidate", "Request", false, null)]
    [InlineData("age=10 life=60", "only-if-cached", "Hit", "UriMiss", false, null)]
    [InlineData("age=10 life=60", "no-cache, only-if-cached", "OnlyIfCachedMiss", "UriMiss", false, null)]
    [InlineData("age=10 life=60 no-cache", "", "Revalidate", "Stale", true, null)]
    [InlineData("age=10 life=60 no-cache", "| hfm", "Revalidate", "Stale", false, null)]
    // Stale.
    [InlineData("age=70 life=60", "", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60", "| head", "Revalidate", "Stale", false, null)]
    [InlineData("age=70 life=60", "| waitless", "Revalidate", "Stale", false, null)]
    [InlineData("age=70 life=60", "max-stale=20", "Stale", "UriMiss", false, "max-stale")]
    [InlineData("age=70 life=60", "max-stale", "Stale", "UriMiss", false, "max-stale")]
    [InlineData("age=70 life=60", "max-stale=5", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60", "max-stale=20, max-age=65", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 must-revalidate", "max-stale=20", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 no-cache", "max-stale=20", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60", "only-if-cached", "OnlyIfCachedMiss", "UriMiss", false, null)]
    [InlineData("age=70 life=60", "max-stale=20, only-if-cached", "Stale", "UriMiss", false, "max-stale")]
    // stale-while-revalidate.
    [InlineData("age=70 life=60 swr=30", "", "StaleWhileRevalidate", "UriMiss", false, "stale-while-revalidate")]
    [InlineData("age=95 life=60 swr=30", "", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 swr=30 must-revalidate", "", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 swr=30 no-cache", "", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 swr=30", "max-age=100", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 swr=30", "min-fresh=1", "Revalidate", "Stale", true, null)]
    [InlineData("age=70 life=60 swr=30", "no-cache", "Revalidate", "Request", false, null)]
    // Credentials the entry did not allow: the app answers, alone.
    [InlineData("age=10 life=60 no-share", "", "Forward", "Request", false, null)]
    [InlineData("age=70 life=60 swr=30 no-share", "max-stale", "Forward", "Request", false, null)]
    [InlineData("age=10 life=60 no-share", "only-if-cached", "Forward", "Request", false, null)]
    // Not the cache's.
    [InlineData("age=10 life=60", "| bypass", "Bypass", "Bypass", false, null)]
    [InlineData("none", "| body", "Bypass", "Request", false, "request-body")]
    public void Decide_Table(string entry, string request, string action, string reason, bool coalesce, string? detail)
    {
        var decision = CacheDecisions.Decide(Input(entry, request));

        Assert.Equal(Enum.Parse<CacheAction>(action), decision.Action);
        if (decision.Action is not (CacheAction.Hit or CacheAction.Stale or CacheAction.StaleWhileRevalidate or CacheAction.OnlyIfCachedMiss))
        {
            Assert.Equal(Enum.Parse<ForwardReason>(reason), decision.Reason);
        }

        Assert.Equal(coalesce, decision.Coalesce);
        Assert.Equal(detail, decision.Detail);
    }

    [Fact]
    public void EntryView_SoftPurgeAfterStoring_EndsFreshnessAtThePurge()
    {
        var entry = new ProxySidecar.Caching.Stores.CacheEntry { Kind = ProxySidecar.Caching.Stores.RecordKind.Response, VaryNames = [], ResponseTimeMs = 1_000_000, LifetimeMs = 60_000 };

        Assert.True(EntryView.Create(entry, 1_010_000, 0).Fresh);
        Assert.False(EntryView.Create(entry, 1_010_000, 1_005_000).Fresh);
        Assert.True(EntryView.Create(entry, 1_010_000, 999_000).Fresh);
    }

    private static DecisionInput Input(string entry, string request)
    {
        var parts = request.Split('|');
        var cacheControl = parts[0].Trim();
        var words = parts.Length > 1 ? parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        var directives = CacheControl.Parse(cacheControl);
        var noCache = directives.NoCache || (words.Contains("pragma") && !directives.Present);
        var found = entry is not ("none" or "vary");
        var fields = found ? entry.Split(' ') : [];
        long Seconds(string name) => fields.FirstOrDefault(f => f.StartsWith(name + "=", StringComparison.Ordinal)) is { } f ? long.Parse(f[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture) * 1000 : -1;
        return new DecisionInput(
            RuleBypass: words.Contains("bypass"),
            HasBody: words.Contains("body"),
            RecordFound: entry != "none",
            EntryFound: found,
            MayServe: !fields.Contains("no-share"),
            View: new EntryView(Seconds("age"), Seconds("life")),
            EntryNoCache: fields.Contains("no-cache"),
            EntryMustRevalidate: fields.Contains("must-revalidate"),
            EntryStaleWhileRevalidateMs: Seconds("swr"),
            Directives: directives,
            RequestNoCache: noCache,
            IsHead: words.Contains("head"),
            MayCoalesce: !words.Contains("waitless"),
            HitForMiss: words.Contains("hfm"));
    }
}
