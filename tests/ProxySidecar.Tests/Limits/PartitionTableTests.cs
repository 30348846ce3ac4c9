using System.Threading.RateLimiting;
using ProxySidecar.Limits;

namespace ProxySidecar.Tests.Limits;

public sealed class PartitionTableTests
{
    private static RateLimitDefinition Bucket(int permits = 1, TimeSpan? window = null) =>
        RateLimitDefinition.From(new RateLimitRuleOptions { Name = "t", PermitLimit = permits, Window = window ?? TimeSpan.FromHours(1) }, 0);

    private static PartitionKey Key(int n) => new(new UInt128(0, (ulong)n), null);

    [Fact]
    public void Acquire_EachClientHasItsOwnLimit()
    {
        var table = new PartitionTable(Bucket(permits: 2), maxPartitions: 10);

        Assert.True(table.Acquire(Key(1), 1, out _).IsAcquired);
        Assert.True(table.Acquire(Key(1), 1, out _).IsAcquired);
        Assert.False(table.Acquire(Key(1), 1, out _).IsAcquired);
        Assert.True(table.Acquire(Key(2), 1, out _).IsAcquired);
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void Acquire_TableFull_NewClientsShareTheOverflowAndTheTableNeverGrows()
    {
        var table = new PartitionTable(Bucket(permits: 1), maxPartitions: 3);
        var results = new List<(bool Acquired, bool Overflowed)>();

        for (var n = 0; n < 1000; n++)
        {
            var acquired = table.Acquire(Key(n), 1, out var overflowed).IsAcquired;
            results.Add((acquired, overflowed));
        }

        Assert.Equal(3, table.Count);
        Assert.Equal(997, table.Overflowed);
        Assert.All(results.Take(3), r => Assert.Equal((true, false), r));
        Assert.Equal((true, true), results[3]);
        Assert.All(results.Skip(4), r => Assert.Equal((false, true), r));
    }

    [Fact]
    public void Acquire_ManyThreadsManyClients_NeverHoldsMoreThanItsBound()
    {
        var table = new PartitionTable(Bucket(permits: 1), maxPartitions: 50);

        Parallel.For(0, 20_000, n => table.Acquire(Key(n), 1, out _).Dispose());

        Assert.Equal(50, table.Count);
        Assert.Equal(20_000 - 50, table.Overflowed);
    }

    [Fact]
    public void Sweep_DropsIdlePartitions_KeepsTheOnesStillCounting()
    {
        var table = new PartitionTable(Bucket(permits: 1), maxPartitions: 10);
        table.Acquire(Key(1), 1, out _);     // its only token taken: not idle for an hour
        table.Acquire(Key(2), 0, out _);     // a full bucket: idle, as a new one would be

        table.Sweep();

        Assert.Equal(1, table.Count);
        Assert.False(table.Acquire(Key(1), 1, out _).IsAcquired);
        Assert.True(table.Acquire(Key(2), 1, out _).IsAcquired);
    }

    [Fact]
    public void Sweep_FreesRoom_SoANewClientGetsItsOwnPartitionAgain()
    {
        var table = new PartitionTable(Bucket(permits: 1), maxPartitions: 1);
        table.Acquire(Key(1), 0, out _);
        table.Acquire(Key(2), 0, out var overflowedBefore);

        table.Sweep();
        table.Acquire(Key(3), 1, out var overflowedAfter);

        Assert.True(overflowedBefore);
        Assert.False(overflowedAfter);
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void BeganOverflowing_OnceWhenOverflowStarts_AgainOnlyAfterAQuietBeat()
    {
        var table = new PartitionTable(Bucket(permits: 1), maxPartitions: 1);
        table.Acquire(Key(1), 1, out _);

        var quiet = table.BeganOverflowing();
        table.Acquire(Key(2), 1, out _);
        var began = table.BeganOverflowing();
        table.Acquire(Key(3), 1, out _);
        var still = table.BeganOverflowing();
        var calm = table.BeganOverflowing();
        table.Acquire(Key(4), 1, out _);
        var again = table.BeganOverflowing();

        Assert.Equal([false, true, false, false, true], [quiet, began, still, calm, again]);
    }

    [Fact]
    public void TokenBucket_RefusedLease_SaysWhenTheNextTokenComes()
    {
        var table = new PartitionTable(Bucket(permits: 2), maxPartitions: 10);
        table.Acquire(Key(1), 1, out _);
        table.Acquire(Key(1), 1, out _);

        var refused = table.Acquire(Key(1), 1, out _);

        Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter));
        Assert.Equal(TimeSpan.FromHours(1), retryAfter);
    }

    [Fact]
    public void SlidingWindow_SegmentIsTheWindowOverItsSegments()
    {
        var definition = RateLimitDefinition.From(
            new RateLimitRuleOptions { Algorithm = RateLimitAlgorithm.SlidingWindow, Window = TimeSpan.FromMinutes(1), SegmentsPerWindow = 6 }, 0);

        Assert.Equal(TimeSpan.FromSeconds(10), new PartitionTable(definition, 10).Segment);
    }
}
