namespace ProxySidecar.Tls;

/// <summary>What a reload poll did.</summary>
internal enum ReloadOutcome
{
    /// <summary>The files hold what is served, a failure already reported, or a pair still being written.</summary>
    Unchanged,

    /// <summary>A new pair was published.</summary>
    Reloaded,

    /// <summary>New content was rejected; the last good pair keeps serving.</summary>
    Failed,
}

/// <summary>The result of the last load or reload, as /status shows it.</summary>
internal sealed record ReloadResult(DateTimeOffset At, bool Succeeded, string Outcome, string? Error, byte[]? ContentHash);

/// <summary>
/// Remembers the last reload, the last error and the counts for one reloaded file set, and decides
/// whether a failure is new (reported and counted) or the same one seen on an earlier poll.
/// </summary>
internal sealed class ReloadTracker
{
    private ReloadResult? _last;
    private ReloadResult? _lastError;
    private long _succeeded;
    private long _failed;

    public ReloadResult? Last => Volatile.Read(ref _last);

    /// <summary>The most recent failure, kept after later successes.</summary>
    public ReloadResult? LastError => Volatile.Read(ref _lastError);

    public long Succeeded => Interlocked.Read(ref _succeeded);

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>True when the last poll already reported this exact failure.</summary>
    public bool IsKnownFailure(ReadOnlySpan<byte> key) =>
        Last is { Succeeded: false, ContentHash: { } known } && key.SequenceEqual(known);

    public void Loaded(DateTimeOffset at, string outcome, byte[] hash) =>
        Volatile.Write(ref _last, new ReloadResult(at, true, outcome, null, hash));

    public void Reloaded(DateTimeOffset at, byte[] hash)
    {
        Interlocked.Increment(ref _succeeded);
        Volatile.Write(ref _last, new ReloadResult(at, true, "reloaded", null, hash));
    }

    /// <summary>The files hold the served content again after a failure (a bad rotation was rolled back).</summary>
    public void BackToCurrent(DateTimeOffset at, byte[] hash)
    {
        if (Last is { Succeeded: false })
        {
            Volatile.Write(ref _last, new ReloadResult(at, true, "unchanged", null, hash));
        }
    }

    public ReloadResult Fail(DateTimeOffset at, string error, byte[] key)
    {
        var result = new ReloadResult(at, false, "failed", error, key);
        Interlocked.Increment(ref _failed);
        Volatile.Write(ref _last, result);
        Volatile.Write(ref _lastError, result);
        return result;
    }

    /// <summary>A stable key for a failure that has no file content (a missing or unreadable file).</summary>
    public static byte[] KeyOf(string error) =>
        System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("error\0" + error));
}
