using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace ProxySidecar.Limits;

/// <summary>
/// Connection middleware on the public listener, before the TLS handshake: counts the open connections of every
/// client address (IPv6 by its prefix, as the rate limits do) and closes a new one at once when its address
/// already holds <c>MaxConnectionsPerClient</c>. The count is kept whether a limit is set or not, so a limit set by
/// a reload applies to connections already open. The table holds only addresses with a connection open, so it is
/// bounded by the connections Kestrel accepts (<c>Sidecar:Hosting:MaxConnections</c>). X-Forwarded-For plays no
/// part here: a connection is counted by the address it comes from.
/// </summary>
internal sealed class ClientConnectionLimiter(IServiceProvider services, LimitsMetrics metrics)
{
    private readonly ConcurrentDictionary<UInt128, int> _open = new();
    private LimitsPolicyProvider? _limits;
    private long _rejected;

    /// <summary>Client addresses with at least one connection open.</summary>
    public int Clients => _open.Count;

    /// <summary>Connections open on the public port.</summary>
    public long Open => _open.Values.Sum(static n => (long)n);

    /// <summary>Connections closed because their address was at its limit.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>For <c>ListenOptions.Use</c>, placed before <c>UseHttps</c>.</summary>
    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection => HandleAsync(connection, next);

    private async Task HandleAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        // Resolved on the first connection: by then start-up has validated Sidecar:Limits.
        var policy = (_limits ??= services.GetRequiredService<LimitsPolicyProvider>()).Current;
        if (connection.RemoteEndPoint is not IPEndPoint remote)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var key = ClientKeys.AddressKey(ClientKeys.Canonical(remote.Address), policy.Ipv6PrefixLength);
        if (!TryEnter(key, policy.MaxConnectionsPerClient))
        {
            Interlocked.Increment(ref _rejected);
            metrics.ConnectionRejected();

            // Not passed on: Kestrel closes the connection when this returns, before a byte of TLS is exchanged.
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Leave(key);
        }
    }

    internal bool TryEnter(UInt128 key, int? limit)
    {
        while (true)
        {
            if (_open.TryGetValue(key, out var count))
            {
                if (count >= limit)
                {
                    return false;
                }

                if (_open.TryUpdate(key, count + 1, count))
                {
                    return true;
                }
            }
            else if (_open.TryAdd(key, 1))
            {
                return true;
            }
        }
    }

    internal void Leave(UInt128 key)
    {
        while (true)
        {
            var count = _open[key];
            if (count == 1 ? _open.TryRemove(new KeyValuePair<UInt128, int>(key, 1)) : _open.TryUpdate(key, count - 1, count))
            {
                return;
            }
        }
    }
}
