namespace ProxySidecar.Admin;

/// <summary>One purge asked for on the admin port: what, when, by whom, and how it ended.</summary>
internal sealed record PurgeRecord(DateTimeOffset At, string Target, bool Soft, bool Succeeded, string? Error, string Client, string Address);

/// <summary>The last <see cref="Capacity"/> purges, newest first, for the status page.</summary>
internal sealed class RecentPurges(TimeProvider time)
{
    public const int Capacity = 20;

    private readonly object _gate = new();
    private readonly LinkedList<PurgeRecord> _records = new();

    public void Add(string target, bool soft, bool succeeded, string? error, string client, string address)
    {
        var record = new PurgeRecord(time.GetUtcNow(), target, soft, succeeded, error, client, address);
        lock (_gate)
        {
            _records.AddFirst(record);
            if (_records.Count > Capacity)
            {
                _records.RemoveLast();
            }
        }
    }

    public PurgeRecord[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _records];
        }
    }
}
