using ProxySidecar.Hosting;

namespace ProxySidecar.Tests.Hosting;

public sealed class IdleMemoryTrimTests
{
    private const long Busy = 100L * 1024 * 1024;
    private const long Quiet = 1024;
    private const long Lots = 200L * 1024 * 1024;

    [Fact]
    public void Next_BusyThenIdleLongEnough_TrimsOnce()
    {
        var state = new IdleMemoryTrim.State();
        Assert.False(state.Next(Busy, Lots));
        Assert.False(state.Next(Quiet, Lots));
        Assert.True(state.Next(Quiet, Lots));
        Assert.False(state.Next(Quiet, Lots));
        Assert.False(state.Next(Quiet, Lots));
    }

    [Fact]
    public void Next_IdleFromTheStart_NeverTrims()
    {
        var state = new IdleMemoryTrim.State();
        for (var i = 0; i < 10; i++)
        {
            Assert.False(state.Next(Quiet, Lots));
        }
    }

    [Fact]
    public void Next_NothingToGiveBack_DoesNotTrim_UntilThereIs()
    {
        var state = new IdleMemoryTrim.State();
        state.Next(Busy, 0);
        Assert.False(state.Next(Quiet, 0));
        Assert.False(state.Next(Quiet, 0));
        Assert.True(state.Next(Quiet, Lots));
    }

    [Fact]
    public void Next_BusyAgain_TrimsAgainAfterTheNextIdlePeriod()
    {
        var state = new IdleMemoryTrim.State();
        state.Next(Busy, Lots);
        state.Next(Quiet, Lots);
        Assert.True(state.Next(Quiet, Lots));
        Assert.False(state.Next(Busy, Lots));
        Assert.False(state.Next(Quiet, Lots));
        Assert.True(state.Next(Quiet, Lots));
    }
}
