using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace ProxySidecar.Limits;

/// <summary>
/// Whom a request is counted against: a 128-bit client address (IPv4 as its IPv4-mapped IPv6 form, IPv6 cut to
/// the configured prefix), or a text (a header value, a certificate subject). Texts longer than
/// <see cref="ClientKeys.MaxTextLength"/> are replaced by their SHA-256, so a key never holds more than a few
/// dozen characters whatever a client sends.
/// </summary>
internal readonly record struct PartitionKey(UInt128 Address, string? Text);

/// <summary>Client addresses and partition keys; pure functions of the request and the compiled limits.</summary>
internal static class ClientKeys
{
    public const string ForwardedForHeader = "X-Forwarded-For";

    public const int MaxTextLength = 64;

    /// <summary>At most this many X-Forwarded-For entries are walked (each one a trusted proxy's).</summary>
    private const int MaxHops = 32;

    /// <summary>An IPv4-mapped IPv6 address (what a dual-stack listener sees) as the IPv4 address it is.</summary>
    public static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>The address as 128 bits: IPv4 as ::ffff:a.b.c.d (whole), IPv6 with the bits past <paramref name="ipv6PrefixLength"/> cleared.</summary>
    public static UInt128 AddressKey(IPAddress? address, int ipv6PrefixLength)
    {
        if (address is null)
        {
            return UInt128.Zero;
        }

        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            bytes[10] = 0xff;
            bytes[11] = 0xff;
            address.TryWriteBytes(bytes[12..], out _);
            return BinaryPrimitives.ReadUInt128BigEndian(bytes);
        }

        address.TryWriteBytes(bytes, out _);
        var value = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        if (address.IsIPv4MappedToIPv6 || ipv6PrefixLength >= 128)
        {
            return value;
        }

        return value & (UInt128.MaxValue << (128 - ipv6PrefixLength));
    }

    /// <summary>
    /// The client's address: the connection's, unless that is a trusted proxy; then X-Forwarded-For is read from the
    /// right (the entry the nearest proxy appended) and the first address that is not a trusted proxy is the client.
    /// An entry that is not an address stops the walk at the last trusted hop, so whatever a client writes into the
    /// header itself is never believed.
    /// </summary>
    public static IPAddress? ClientAddress(HttpContext context, IPNetwork[] trustedProxies)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null)
        {
            return null;
        }

        remote = Canonical(remote);
        if (trustedProxies.Length == 0 || !IsTrusted(remote, trustedProxies))
        {
            return remote;
        }

        return FromForwardedFor(remote, context.Request.Headers[ForwardedForHeader], trustedProxies);
    }

    /// <summary>The walk of <see cref="ClientAddress"/>, given the (trusted) connection address and the header's values.</summary>
    public static IPAddress FromForwardedFor(IPAddress proxy, StringValues forwardedFor, IPNetwork[] trustedProxies)
    {
        var client = proxy;
        var hops = 0;
        for (var v = forwardedFor.Count - 1; v >= 0; v--)
        {
            var rest = (forwardedFor[v] ?? string.Empty).AsSpan();
            while (true)
            {
                var comma = rest.LastIndexOf(',');
                var entry = (comma < 0 ? rest : rest[(comma + 1)..]).Trim();
                if (entry.IsEmpty && comma < 0)
                {
                    break;
                }

                if (++hops > MaxHops || !TryParseEntry(entry, out var address))
                {
                    return client;
                }

                client = Canonical(address);
                if (!IsTrusted(client, trustedProxies))
                {
                    return client;
                }

                if (comma < 0)
                {
                    break;
                }

                rest = rest[..comma];
            }
        }

        return client;
    }

    public static bool IsTrusted(IPAddress address, IPNetwork[] trustedProxies)
    {
        foreach (var network in trustedProxies)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A header value or certificate subject as a key text: null when empty, hashed when long.</summary>
    public static string? Text(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (value.Length <= MaxTextLength)
        {
            return value;
        }

        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
    }

    /// <summary>The value of <paramref name="header"/> (several fields joined), or null.</summary>
    public static string? HeaderText(HttpContext context, string header)
    {
        if (!context.Request.Headers.TryGetValue(header, out var values))
        {
            return null;
        }

        return Text(values.Count == 1 ? values[0] : values.ToString());
    }

    /// <summary>An X-Forwarded-For entry: an IPv4 address with or without a port, an IPv6 address, bare or in brackets with a port.</summary>
    private static bool TryParseEntry(ReadOnlySpan<char> entry, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        if (entry.StartsWith('['))
        {
            var close = entry.IndexOf(']');
            entry = close < 0 ? ReadOnlySpan<char>.Empty : entry[1..close];
        }
        else if (entry.IndexOf(':') is var colon and >= 0 && entry[(colon + 1)..].IndexOf(':') < 0)
        {
            // One colon: an IPv4 address with a port.
            entry = entry[..colon];
        }

        return IPAddress.TryParse(entry, out address);
    }
}
