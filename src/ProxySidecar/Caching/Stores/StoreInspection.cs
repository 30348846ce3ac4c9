namespace ProxySidecar.Caching.Stores;

/// <summary>
/// A store that can be read without changing anything (no second chance given, nothing copied into a first
/// level, nothing expired removed), saying where the record is held: for the cache explanation, which must never
/// change the cache it explains.
/// </summary>
internal interface IInspectableStore
{
    ValueTask<InspectedRecord> InspectAsync(string key, CancellationToken cancellationToken);
}

/// <summary>A record's bytes (null when absent or expired) and where it is held.</summary>
internal readonly record struct InspectedRecord(byte[]? Value, string? HeldIn);

/// <summary>Where a record is held, in the words /cache/explain uses.</summary>
internal static class StoreLocations
{
    public const string Memory = "memory store";

    public const string Redis = "Redis";

    public const string RedisAndFirstLevel = "Redis, and this replica's first level (memory)";

    public const string FirstLevelOnly = "this replica's first level (memory) only; no longer in Redis";

    /// <summary>A store that cannot say more (a custom <see cref="Microsoft.AspNetCore.OutputCaching.IOutputCacheStore"/>).</summary>
    public const string Store = "store";
}
