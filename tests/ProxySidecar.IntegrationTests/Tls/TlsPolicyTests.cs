using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>
/// The public port's TLS policy, checked with hand-built ClientHello messages over a raw socket, so the
/// result does not depend on what the local TLS client library is willing to offer.
/// </summary>
public sealed class TlsPolicyTests
{
    // TLS 1.2 suites (IANA code points).
    internal const ushort EcdheEcdsaAes128GcmSha256 = 0xC02B;
    internal const ushort EcdheRsaAes128GcmSha256 = 0xC02F;
    private const ushort EcdheEcdsaChacha20 = 0xCCA9;
    internal const ushort EcdheEcdsaAes128CbcSha = 0xC009;
    private const ushort EcdheEcdsaAes256CbcSha = 0xC00A;
    internal const ushort EcdheRsaAes128CbcSha = 0xC013;
    private const ushort EcdheEcdsaAes128CbcSha256 = 0xC023;
    private const ushort EcdheEcdsaAes256CbcSha384 = 0xC024;
    private const ushort EcdheRsaAes128CbcSha256 = 0xC027;
    private const ushort RsaAes128CbcSha = 0x002F;

    internal const ushort Tls11 = 0x0302;
    private const ushort Tls12 = 0x0303;

    [Fact]
    public async Task Handshake_Tls12WithGcmSuite_ServerHello()
    {
        await using var stack = await SidecarSetup.StartAsync();

        var answer = await SendClientHelloAsync(stack.Sidecar, Tls12, [EcdheEcdsaAes128GcmSha256, EcdheRsaAes128GcmSha256]);

        Assert.Equal(ServerAnswer.ServerHello, answer);
    }

    [Fact]
    public async Task Handshake_Tls12WithChaCha20Suite_ServerHello()
    {
        await using var stack = await SidecarSetup.StartAsync();

        var answer = await SendClientHelloAsync(stack.Sidecar, Tls12, [EcdheEcdsaChacha20]);

        Assert.Equal(ServerAnswer.ServerHello, answer);
    }

    [Fact]
    public async Task Handshake_Tls12WithOnlyCbcSuites_Refused()
    {
        await using var stack = await SidecarSetup.StartAsync();

        var answer = await SendClientHelloAsync(
            stack.Sidecar,
            Tls12,
            [EcdheEcdsaAes128CbcSha, EcdheEcdsaAes256CbcSha, EcdheRsaAes128CbcSha, EcdheEcdsaAes128CbcSha256, EcdheEcdsaAes256CbcSha384, EcdheRsaAes128CbcSha256, RsaAes128CbcSha]);

        Assert.NotEqual(ServerAnswer.ServerHello, answer);
    }

    [Tls11CapableFact]
    public async Task Handshake_Tls11_Refused()
    {
        await using var stack = await SidecarSetup.StartAsync();

        var answer = await SendClientHelloAsync(
            stack.Sidecar,
            Tls11,
            [EcdheEcdsaAes128CbcSha, EcdheRsaAes128CbcSha, EcdheEcdsaAes128GcmSha256, EcdheRsaAes128GcmSha256]);

        Assert.NotEqual(ServerAnswer.ServerHello, answer);
    }

    [Theory]
    [InlineData("-tls1_2")]
    [InlineData("-tls1_3")]
    public async Task Handshake_ReturningClient_SessionResumed(string version)
    {
        await using var stack = await SidecarSetup.StartAsync();

        var (reused, output) = await OpenSslReconnectAsync(stack.Sidecar.HttpsAddress.Port, version);

        Assert.True(reused > 0, $"No session was resumed:\n{output}");
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["tlsPolicy"] is not null, because: "status answers");
        Assert.Equal("openssl-config", (string?)status["tlsPolicy"]?["enforcedBy"]);
    }

    [Fact]
    [Trait("Category", SidecarProcess.Category)]
    public async Task Process_PolicyFromOpenSslConfiguration_CbcRefusedAndSessionsResumed()
    {
        await using var upstream = await TestUpstream.StartAsync();
        using var setup = ProcessSetup.Start(upstream.Address);
        await setup.WaitForReadinessAsync();

        var cbc = await SendClientHelloAsync(setup.HttpsPort, Tls12, [EcdheEcdsaAes128CbcSha, EcdheEcdsaAes128CbcSha256, EcdheRsaAes128CbcSha]);
        var gcm = await SendClientHelloAsync(setup.HttpsPort, Tls12, [EcdheEcdsaAes128GcmSha256, EcdheRsaAes128GcmSha256]);
        var (reused, output) = await OpenSslReconnectAsync(setup.HttpsPort, "-tls1_2");

        Assert.NotEqual(ServerAnswer.ServerHello, cbc);
        Assert.Equal(ServerAnswer.ServerHello, gcm);
        Assert.True(reused > 0, $"No session was resumed:\n{output}");
    }

    [Fact]
    [Trait("Category", SidecarProcess.Category)]
    public async Task Process_OperatorsOwnOpenSslConfiguration_PolicyStillEnforcedPerConnection()
    {
        await using var upstream = await TestUpstream.StartAsync();
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?> { ["OPENSSL_CONF"] = "/etc/ssl/openssl.cnf" });
        await setup.WaitForReadinessAsync();
        using var admin = setup.CreateAdminClient();

        var cbc = await SendClientHelloAsync(setup.HttpsPort, Tls12, [EcdheEcdsaAes128CbcSha, EcdheEcdsaAes128CbcSha256, EcdheRsaAes128CbcSha]);
        var chacha = await SendClientHelloAsync(setup.HttpsPort, Tls12, [EcdheEcdsaChacha20]);
        var status = System.Text.Json.Nodes.JsonNode.Parse(await admin.GetStringAsync(new Uri("/status", UriKind.Relative)))!;

        Assert.NotEqual(ServerAnswer.ServerHello, cbc);
        Assert.Equal(ServerAnswer.ServerHello, chacha);
        Assert.Equal("cipher-suites-policy", (string?)status["tlsPolicy"]?["enforcedBy"]);
        Assert.Contains("/etc/ssl/openssl.cnf", (string?)status["tlsPolicy"]?["reason"], StringComparison.Ordinal);
    }

    /// <summary>
    /// Two <c>openssl s_client</c> connections, each sending one HTTP/1.0 request and reading to the end (so a
    /// TLS 1.3 ticket, sent after the handshake, is received): the first saves its session, the second offers
    /// it. Returns 1 when the second says "Reused", 0 otherwise, with both outputs.
    /// </summary>
    private static async Task<(int Reused, string Output)> OpenSslReconnectAsync(int port, string version)
    {
        using var temp = new TempDirectory();
        var session = temp.Combine("session.pem");
        var first = await OpenSslClientAsync(port, version, "-sess_out", session);
        var second = await OpenSslClientAsync(port, version, "-sess_in", session);
        var reused = second.Split('\n').Any(line => line.StartsWith("Reused,", StringComparison.Ordinal)) ? 1 : 0;
        return (reused, first + "\n---\n" + second);
    }

    private static async Task<string> OpenSslClientAsync(int port, string version, string sessionOption, string sessionFile)
    {
        var start = new System.Diagnostics.ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "s_client", "-connect", $"127.0.0.1:{port}", "-servername", "localhost", version, sessionOption, sessionFile, "-ign_eof" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(start)
            ?? throw new InvalidOperationException("openssl could not be started (it is part of every Debian/Ubuntu base image).");
        await process.StandardInput.WriteAsync("GET /tls HTTP/1.0\r\nHost: localhost\r\n\r\n");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("openssl s_client did not finish within 30 s.");
        }

        return await stdout + await stderr;
    }

    internal enum ServerAnswer
    {
        ServerHello,
        Alert,
        Closed,
        Other,
    }

    private static Task<ServerAnswer> SendClientHelloAsync(SidecarHost sidecar, ushort version, ushort[] suites) =>
        SendClientHelloAsync(sidecar.HttpsAddress.Port, version, suites);

    internal static async Task<ServerAnswer> SendClientHelloAsync(int port, ushort version, ushort[] suites)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, cancel.Token);
        var stream = tcp.GetStream();
        await stream.WriteAsync(BuildClientHello(version, suites), cancel.Token);
        var header = new byte[6];
        var read = 0;
        try
        {
            while (read < header.Length)
            {
                var n = await stream.ReadAsync(header.AsMemory(read), cancel.Token);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }
        }
        catch (IOException)
        {
            return ServerAnswer.Closed;
        }

        if (read < 6)
        {
            return read == 0 ? ServerAnswer.Closed : ServerAnswer.Other;
        }

        return header[0] switch
        {
            0x16 when header[5] == 0x02 => ServerAnswer.ServerHello,
            0x15 => ServerAnswer.Alert,
            _ => ServerAnswer.Other,
        };
    }

    /// <summary>A ClientHello record: ECDHE-capable (x25519, secp256r1), with signature algorithms, no session.</summary>
    private static byte[] BuildClientHello(ushort version, ushort[] suites)
    {
        var extensions = new List<byte>();
        void Extension(ushort type, byte[] data)
        {
            extensions.AddRange(U16(type));
            extensions.AddRange(U16((ushort)data.Length));
            extensions.AddRange(data);
        }

        var host = Encoding.ASCII.GetBytes("localhost");
        Extension(0x0000, [.. U16((ushort)(host.Length + 3)), 0x00, .. U16((ushort)host.Length), .. host]);
        ushort[] groups = [0x001D, 0x0017];
        Extension(0x000A, [.. U16((ushort)(groups.Length * 2)), .. groups.SelectMany(U16)]);
        Extension(0x000B, [0x01, 0x00]);
        ushort[] signatures = [0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501];
        Extension(0x000D, [.. U16((ushort)(signatures.Length * 2)), .. signatures.SelectMany(U16)]);
        Extension(0xFF01, [0x00]);

        var body = new List<byte>();
        body.AddRange(U16(version));
        body.AddRange(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        body.Add(0x00);
        body.AddRange(U16((ushort)(suites.Length * 2)));
        foreach (var suite in suites)
        {
            body.AddRange(U16(suite));
        }

        body.Add(0x01);
        body.Add(0x00);
        body.AddRange(U16((ushort)extensions.Count));
        body.AddRange(extensions);

        var handshake = new List<byte> { 0x01, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);

        var record = new List<byte> { 0x16 };
        record.AddRange(U16(0x0301));
        record.AddRange(U16((ushort)handshake.Count));
        record.AddRange(handshake);
        return [.. record];
    }

    private static byte[] U16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return bytes;
    }
}

/// <summary>
/// Runs the TLS 1.1 refusal test only where it can fail: on a machine whose OpenSSL would complete a
/// TLS 1.1 handshake for a server that enables it. Where the library refuses TLS 1.1 by itself (Debian's
/// default configuration does), the sidecar's refusal proves nothing about its own policy, so the test
/// is skipped with that reason; the unit test on TlsPolicy.Protocols still pins the setting.
/// </summary>
public sealed class Tls11CapableFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Reason = new(Probe);

    public Tls11CapableFactAttribute()
    {
        if (Reason.Value is { } reason)
        {
            Skip = reason;
        }
    }

    private static string? Probe()
    {
        try
        {
            using var ca = new TestCertificateAuthority();
            using var certificate = ca.Issue().ToX509();
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var server = Task.Run(async () =>
            {
                using var accepted = await listener.AcceptTcpClientAsync();
                using var tls = new System.Net.Security.SslStream(accepted.GetStream());
                try
                {
                    await tls.AuthenticateAsServerAsync(new System.Net.Security.SslServerAuthenticationOptions
                    {
                        ServerCertificate = certificate,
#pragma warning disable SYSLIB0039, CA5397 // TLS 1.1 on purpose: the control server must offer it.
                        EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls11 | System.Security.Authentication.SslProtocols.Tls12,
#pragma warning restore SYSLIB0039, CA5397
                    }).WaitAsync(TimeSpan.FromSeconds(5));
                }
                catch (Exception)
                {
                    // The handshake is never finished by the probe; only the server's first answer matters.
                }
            });
            var answer = TlsPolicyTests.SendClientHelloAsync(
                port,
                TlsPolicyTests.Tls11,
                [TlsPolicyTests.EcdheEcdsaAes128CbcSha, TlsPolicyTests.EcdheRsaAes128CbcSha, TlsPolicyTests.EcdheEcdsaAes128GcmSha256, TlsPolicyTests.EcdheRsaAes128GcmSha256])
                .GetAwaiter().GetResult();
            server.Wait(TimeSpan.FromSeconds(10));
            return answer == TlsPolicyTests.ServerAnswer.ServerHello
                ? null
                : "This machine's TLS library refuses TLS 1.1 even for a server that enables it, so refusing it here would not prove the sidecar's own policy (TlsPolicyTests in the unit tests pins the setting).";
        }
        catch (Exception error)
        {
            return "Could not probe whether this machine's TLS library speaks TLS 1.1: " + error.Message;
        }
    }
}
