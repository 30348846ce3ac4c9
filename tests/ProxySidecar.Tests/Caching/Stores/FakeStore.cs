using Microsoft.AspNetCore.OutputCaching;

namespace ProxySidecar.Tests.Caching.Stores;

/// <summary>An in-memory IOutputCacheStore that can be told to fail or hang; counts calls.</summary>
internal sealed class FakeStore : IOutputCacheStore
{
    private readonly Dictionary<string, byte[]> _values = new(StringComparer.Ordinal);
    private int _gets;
    private int _sets;
    private int _evictions;

    public enum Behaviour
    {
        Working,
        Failing,
        Hanging,
        NotReady,
    }

    public Behaviour Mode { get; set; }

    public int Gets => Volatile.Read(ref _gets);

    public int Sets => Volatile.Read(ref _sets);

    public int Evictions => Volatile.Read(ref _evictions);

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _gets);
        return Mode switch
        {
            Behaviour.Failing => ValueTask.FromException<byte[]?>(new InvalidOperationException("store is down")),
            Behaviour.Hanging => new ValueTask<byte[]?>(new TaskCompletionSource<byte[]?>().Task),
            Behaviour.NotReady => ValueTask.FromException<byte[]?>(new ProxySidecar.Caching.Stores.SharedStoreNotReadyException("connecting")),
            _ => ValueTask.FromResult(Read(key)),
        };
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sets);
        switch (Mode)
        {
            case Behaviour.Failing:
                return ValueTask.FromException(new InvalidOperationException("store is down"));
            case Behaviour.Hanging:
                return new ValueTask(new TaskCompletionSource().Task);
            default:
                lock (_values)
                {
                    _values[key] = value;
                }

                return default;
        }
    }

    public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _evictions);
        return Mode switch
        {
            Behaviour.Failing => ValueTask.FromException(new InvalidOperationException("store is down")),
            Behaviour.Hanging => new ValueTask(new TaskCompletionSource().Task),
            _ => default,
        };
    }

    public void Put(string key, byte[] value)
    {
        lock (_values)
        {
            _values[key] = value;
        }
    }

    private byte[]? Read(string key)
    {
        lock (_values)
        {
            return _values.TryGetValue(key, out var value) ? value : null;
        }
    }
}
