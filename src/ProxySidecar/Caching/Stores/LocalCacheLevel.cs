using System.Collections.Concurrent;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// The in-memory first level in front of Redis: small (bounded in bytes, counted as the memory store counts them), short-lived (never beyond the
/// entry's own lifetime nor <see cref="LocalCacheOptions.MaxTimeToLive"/>), and aware of each entry's tags
/// so a purge (local or announced by another replica) removes it. Reads take no lock.
/// </summary>
internal sealed class LocalCacheLevel
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _keysByTag = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, Entry Entry)> _insertionOrder = new();
    private readonly object _gate = new();
    private readonly TimeProvider _timeProvider;
    private readonly long _maxBytes;
    private readonly long _maxEntryBytes;
    private readonly TimeSpan _maxTimeToLive;
    private long _bytes;

    public LocalCacheLevel(LocalCacheOptions options, TimeProvider timeProvider)
    {
        _timeProvider = timeProvider;
        _maxBytes = options.MaxBytes;
        _maxEntryBytes = options.MaxEntryBytes;
        _maxTimeToLive = options.MaxTimeToLive;
    }

    public int Count => _entries.Count;

    public long Bytes => Interlocked.Read(ref _bytes);

    public byte[]? TryGet(string key)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            if (entry.ExpiresAt > _timeProvider.GetTimestamp())
            {
                return entry.Value;
            }

            lock (_gate)
            {
                RemoveIfSame(key, entry);
            }
        }

        return null;
    }

    /// <summary>A read that changes nothing (an expired entry is left for the next <see cref="TryGet"/>).</summary>
    public byte[]? Peek(string key) =>
        _entries.TryGetValue(key, out var entry) && entry.ExpiresAt > _timeProvider.GetTimestamp() ? entry.Value : null;

    /// <summary>Keeps <paramref name="value"/> for the shorter of <paramref name="timeToLive"/> and the configured maximum.</summary>
    public void Set(string key, byte[] value, IReadOnlyList<string> tags, TimeSpan timeToLive)
    {
        var ttl = timeToLive < _maxTimeToLive ? timeToLive : _maxTimeToLive;
        if (ttl <= TimeSpan.Zero || value.LongLength > _maxEntryBytes)
        {
            Remove(key);
            return;
        }

        var tagArray = tags.ToArray();
        var entry = new Entry(value, tagArray, MemoryCacheStore.Charge(key, value, tagArray), _timeProvider.GetTimestamp() + (long)(ttl.TotalSeconds * _timeProvider.TimestampFrequency));
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var previous))
            {
                RemoveIfSame(key, previous);
            }

            MakeRoomFor(entry.Size);
            _entries[key] = entry;
            Interlocked.Add(ref _bytes, entry.Size);
            _insertionOrder.Enqueue((key, entry));
            foreach (var tag in entry.Tags)
            {
                if (!_keysByTag.TryGetValue(tag, out var keys))
                {
                    keys = new HashSet<string>(StringComparer.Ordinal);
                    _keysByTag[tag] = keys;
                }

                keys.Add(key);
            }
        }
    }

    public void Remove(string key)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var entry))
            {
                RemoveIfSame(key, entry);
            }
        }
    }

    /// <summary>Removes every entry carrying <paramref name="tag"/>; returns how many.</summary>
    public int EvictTag(string tag)
    {
        lock (_gate)
        {
            if (!_keysByTag.Remove(tag, out var keys))
            {
                return 0;
            }

            var removed = 0;
            foreach (var key in keys)
            {
                if (_entries.TryGetValue(key, out var entry) && RemoveIfSame(key, entry))
                {
                    removed++;
                }
            }

            return removed;
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _entries.Clear();
            _keysByTag.Clear();
            _insertionOrder.Clear();
            Interlocked.Exchange(ref _bytes, 0);
        }
    }

    private void MakeRoomFor(long size)
    {
        // Oldest first: with lifetimes of a few seconds, the oldest entries are also the next to expire.
        // Queue heads that are no longer current (replaced, removed, purged by tag) go too, so the queue
        // never holds bodies the byte count no longer includes.
        while (_insertionOrder.Count > 0
            && (Interlocked.Read(ref _bytes) + size > _maxBytes || IsExpired(_insertionOrder.Peek().Entry) || !IsCurrent(_insertionOrder.Peek())))
        {
            var (key, entry) = _insertionOrder.Dequeue();
            RemoveIfSame(key, entry);
        }
    }

    private bool IsExpired(Entry entry) => entry.ExpiresAt <= _timeProvider.GetTimestamp();

    private bool IsCurrent((string Key, Entry Entry) queued) =>
        _entries.TryGetValue(queued.Key, out var current) && ReferenceEquals(current, queued.Entry);

    private bool RemoveIfSame(string key, Entry entry)
    {
        if (!_entries.TryRemove(new KeyValuePair<string, Entry>(key, entry)))
        {
            return false;
        }

        Interlocked.Add(ref _bytes, -entry.Size);
        foreach (var tag in entry.Tags)
        {
            if (_keysByTag.TryGetValue(tag, out var keys))
            {
                keys.Remove(key);
                if (keys.Count == 0)
                {
                    _keysByTag.Remove(tag);
                }
            }
        }

        return true;
    }

    /// <summary>Compared by reference: a replaced entry is never mistaken for its successor.</summary>
    private sealed class Entry(byte[] value, string[] tags, long size, long expiresAt)
    {
        public byte[] Value { get; } = value;

        public string[] Tags { get; } = tags;

        /// <summary>What the entry is charged against MaxBytes: every byte kept for it (<see cref="MemoryCacheStore.Charge"/>).</summary>
        public long Size { get; } = size;

        public long ExpiresAt { get; } = expiresAt;
    }
}
