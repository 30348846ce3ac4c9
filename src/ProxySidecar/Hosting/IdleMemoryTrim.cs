namespace ProxySidecar.Hosting;

/// <summary>
/// Gives memory back once traffic stops: the garbage collector keeps the memory a busy period made it commit until it
/// collects again, which an idle process rarely does. After <see cref="IdleFor"/> of (almost) no allocation, one
/// compacting collection returns what is free; then nothing more until the process has been busy again.
/// </summary>
internal sealed partial class IdleMemoryTrim(TimeProvider time, ILogger<IdleMemoryTrim> logger) : BackgroundService
{
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    internal static readonly TimeSpan IdleFor = TimeSpan.FromSeconds(10);

    /// <summary>Allocation per interval below which the process counts as idle (timers and probes allocate a little).</summary>
    internal const long IdleAllocationBytes = 4L * 1024 * 1024;

    /// <summary>Committed memory beyond the heap worth a collection to give back.</summary>
    internal const long WorthTrimmingBytes = 16L * 1024 * 1024;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var state = new State();
        var previous = GC.GetTotalAllocatedBytes();
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var allocated = GC.GetTotalAllocatedBytes();
            var info = GC.GetGCMemoryInfo();
            if (state.Next(allocated - previous, info.TotalCommittedBytes - info.HeapSizeBytes))
            {
                var before = info.TotalCommittedBytes;
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                Log.MemoryTrimmed(logger, before, GC.GetGCMemoryInfo().TotalCommittedBytes);
            }

            previous = GC.GetTotalAllocatedBytes();
        }
    }

    /// <summary>The decision, one call per interval: trim once per idle period, and only when there is something to give back.</summary>
    internal sealed class State
    {
        private int _idleIntervals;
        private bool _trimmedSinceBusy = true;

        public bool Next(long allocatedBytes, long committedBeyondHeapBytes)
        {
            if (allocatedBytes >= IdleAllocationBytes)
            {
                _idleIntervals = 0;
                _trimmedSinceBusy = false;
                return false;
            }

            _idleIntervals++;
            if (_trimmedSinceBusy || _idleIntervals * Interval < IdleFor || committedBeyondHeapBytes < WorthTrimmingBytes)
            {
                return false;
            }

            _trimmedSinceBusy = true;
            return true;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(103, LogLevel.Information, "Idle: committed memory {BeforeBytes} -> {AfterBytes} bytes after a compacting collection.")]
        public static partial void MemoryTrimmed(ILogger logger, long beforeBytes, long afterBytes);
    }
}
