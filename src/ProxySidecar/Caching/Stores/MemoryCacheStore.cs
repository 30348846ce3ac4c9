using System.Collections.Concurrent;
using Microsoft.AspNetCore.OutputCaching;

namespace ProxySidecar.Caching.Stores;

/// <summary>What the cache holds in this process, counted the way its size limit counts it.</summary>
internal interface ICacheOccupancy
{
    /// <summary>Records held (entries, Vary records, purge markers).</summary>
    long Entries { get; }

    /// <summary>Bytes charged for them (see <see cref="MemoryCacheStore"/>).</summary>
    long Bytes { get; }
}

/// <summary>
/// The in-memory store, the default <see cref="IOutputCacheStore"/>. It is bounded by <c>Sidecar:Cache:SizeLimitBytes</c>,
/// and a record is charged every byte the process keeps for it, not only its bytes: its key and tags, the decoded entry
/// the cache keeps beside it (<see cref="CacheEntrySerializer.DecodedFootprint"/>) and this store's own bookkeeping.
/// So the limit bounds the process's memory, whatever the number of URLs.
/// Reads take no lock; writes, evictions and purges take one. Beyond the limit, records are evicted by CLOCK
/// (second chance: a record read since the hand last passed stays one more round); expired records go when met.
/// A purge by tag touches only the records carrying that tag.
/// </summary>
internal sealed class MemoryCacheStore : IOutputCacheStore, ICacheOccupancy, IInspectableStore
{
    /// <summary>
    /// What one record costs beside its key, tags, value and decoded entry: the node, its slots in the key table, the
    /// clock queue and the tag index, and the per-URL tag set most records bring. Measured, rounded up.
    /// </summary>
    internal const int RecordOverhead = 320;

    private readonly ConcurrentDictionary<string, Node> _records = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Node>> _byTag = new(StringComparer.Ordinal);
    private readonly Queue<Node> _clock = new();
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private long _bytes;

    public MemoryCacheStore(long limitBytes, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limitBytes);
        LimitBytes = limitBytes;
        _time = time;
    }

    public long LimitBytes { get; }

    public long Entries => _records.Count;

    public long Bytes => Interlocked.Read(ref _bytes);

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!_records.TryGetValue(key, out var node))
        {
            return ValueTask.FromResult<byte[]?>(null);
        }

        var value = node.Value;
        if (value is not null && node.ExpiresAt > _time.GetTimestamp())
        {
            node.Referenced = true;
            return ValueTask.FromResult<byte[]?>(value);
        }

        lock (_gate)
        {
            Remove(node);
        }

        return ValueTask.FromResult<byte[]?>(null);
    }

    /// <summary>A read that changes nothing: no second chance given, nothing expired removed.</summary>
    public ValueTask<InspectedRecord> InspectAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var value = _records.TryGetValue(key, out var node) && node.ExpiresAt > _time.GetTimestamp() ? node.Value : null;
        return ValueTask.FromResult(new InspectedRecord(value, value is null ? null : StoreLocations.Memory));
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        tags ??= [];
        var size = Charge(key, value, tags);
        var node = new Node(key, value, tags, size, _time.GetTimestamp() + (long)(validFor.TotalSeconds * _time.TimestampFrequency));
        lock (_gate)
        {
            if (_records.TryGetValue(key, out var previous))
            {
                Remove(previous);
            }

            if (size > LimitBytes || validFor <= TimeSpan.Zero)
            {
                return ValueTask.CompletedTask;
            }

            MakeRoom(size);
            _records[key] = node;
            Interlocked.Add(ref _bytes, size);
            _clock.Enqueue(node);
            foreach (var tag in tags)
            {
                // Every record carries the "all" tag: a purge of it clears the table, so it needs no index.
                if (tag == CacheTags.All)
                {
                    continue;
                }

                if (!_byTag.TryGetValue(tag, out var nodes))
                {
                    nodes = [];
                    _byTag[tag] = nodes;
                }

                nodes.Add(node);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tag);
        lock (_gate)
        {
            if (tag == CacheTags.All)
            {
                foreach (var node in _records.Values)
                {
                    node.Removed = true;
                    node.Value = null;
                }

                _records.Clear();
                _byTag.Clear();
                _clock.Clear();
                Interlocked.Exchange(ref _bytes, 0);
            }
            else if (_byTag.Remove(tag, out var nodes))
            {
                foreach (var node in nodes)
                {
                    Remove(node);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The bytes a record is charged: everything the process keeps alive for it.</summary>
    internal static long Charge(string key, byte[] value, string[] tags)
    {
        long size = RecordOverhead + StringBytes(key) + 24 + value.LongLength + CacheEntrySerializer.DecodedFootprint(value);
        foreach (var tag in tags)
        {
            size += StringBytes(tag) + 8;
        }

        return size;
    }

    private static long StringBytes(string value) => 22 + (2L * value.Length);

    /// <summary>Evicts until <paramref name="size"/> fits: expired and unreferenced records first, by CLOCK.</summary>
    private void MakeRoom(long size)
    {
        var now = _time.GetTimestamp();

        // Records met at the head that are gone or expired are dropped even when there is room, so the queue
        // and the byte count never hold what the table no longer does.
        while (_clock.TryPeek(out var head) && (head.Removed || head.ExpiresAt <= now))
        {
            Remove(_clock.Dequeue());
        }

        while (Interlocked.Read(ref _bytes) + size > LimitBytes && _clock.TryDequeue(out var node))
        {
            if (node.Removed)
            {
                continue;
            }

            if (node.Referenced && node.ExpiresAt > now)
            {
                node.Referenced = false;
                _clock.Enqueue(node);
                continue;
            }

            Remove(node);
        }

        // Replaced and purged records leave their queue slot behind; rebuild the queue before those outnumber the live ones.
        if (_clock.Count > (2 * _records.Count) + 1024)
        {
            var live = _clock.Where(n => !n.Removed).ToArray();
            _clock.Clear();
            foreach (var node in live)
            {
                _clock.Enqueue(node);
            }
        }
    }

    /// <summary>Under the gate. Drops the value at once, so a queue slot left behind holds no body.</summary>
    private void Remove(Node node)
    {
        if (node.Removed)
        {
            return;
        }

        node.Removed = true;
        node.Value = null;
        _records.TryRemove(new KeyValuePair<string, Node>(node.Key, node));
        Interlocked.Add(ref _bytes, -node.Size);
        foreach (var tag in node.Tags)
        {
            if (_byTag.TryGetValue(tag, out var nodes) && nodes.Remove(node) && nodes.Count == 0)
            {
                _byTag.Remove(tag);
            }
        }
    }

    /// <summary>Compared by reference: a replaced record is never mistaken for its successor.</summary>
    private sealed class Node(string key, byte[] value, string[] tags, long size, long expiresAt)
    {
        public string Key { get; } = key;

        public byte[]? Value { get; set; } = value;

        public string[] Tags { get; } = tags;

        public long Size { get; } = size;

        public long ExpiresAt { get; } = expiresAt;

        public bool Removed { get; set; }

        public bool Referenced { get; set; }
    }
}
