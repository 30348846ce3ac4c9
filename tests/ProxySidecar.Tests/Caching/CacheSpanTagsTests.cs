using System.Diagnostics;
using ProxySidecar.Caching;

namespace ProxySidecar.Tests.Caching;

/// <summary>The cache's span tags go only on a span someone records; a bare Activity (no tracer) gets none.</summary>
public sealed class CacheSpanTagsTests
{
    [Fact]
    public void Annotate_ActivityNoOneListensTo_GetsNoTags()
    {
        // What ASP.NET Core starts for a request when no tracer is configured: an Activity of no listened source.
        using var activity = new Activity("Microsoft.AspNetCore.Hosting.HttpRequestIn").Start();

        CacheMetrics.Annotate("hit", "0123456789abcdef", 3, 57);

        Assert.Empty(activity.TagObjects);
    }

    [Theory]
    [InlineData(ActivitySamplingResult.AllDataAndRecorded, true)]
    [InlineData(ActivitySamplingResult.AllData, true)]
    [InlineData(ActivitySamplingResult.PropagationData, false)]
    public void Annotate_ActivityOfAListenedSource_IsTaggedWhenItsDataIsWanted(ActivitySamplingResult sampling, bool tagged)
    {
        var name = "ProxySidecar.Tests.CacheSpanTags." + sampling;
        using var source = new ActivitySource(name);
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => sampling,
        };
        ActivitySource.AddActivityListener(listener);
        using var activity = source.StartActivity("request");
        Assert.NotNull(activity);

        CacheMetrics.Annotate("hit", "0123456789abcdef", 3, 57);

        Assert.Equal(tagged ? "hit" : null, activity.GetTagItem("proxysidecar.cache.result") as string);
        Assert.Equal(tagged ? 3L : null, activity.GetTagItem("proxysidecar.cache.age") as long?);
    }
}
