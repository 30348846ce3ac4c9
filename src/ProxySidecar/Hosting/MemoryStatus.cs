using ProxySidecar.Admin;

namespace ProxySidecar.Hosting;

/// <summary>The "memory" section of /status: the process's resident memory and what the managed heap holds.</summary>
internal sealed class MemoryStatus : IStatusContributor
{
    public string Name => "memory";

    public object GetStatus()
    {
        var gc = GC.GetGCMemoryInfo();
        return new Dictionary<string, object?>
        {
            ["workingSetBytes"] = Environment.WorkingSet,
            ["gcHeapBytes"] = gc.HeapSizeBytes,
            ["gcCommittedBytes"] = gc.TotalCommittedBytes,
            ["gcFragmentedBytes"] = gc.FragmentedBytes,
            ["gcHeapHardLimitBytes"] = gc.TotalAvailableMemoryBytes,
            ["gcCollections"] = new long[] { GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2) },
        };
    }
}
