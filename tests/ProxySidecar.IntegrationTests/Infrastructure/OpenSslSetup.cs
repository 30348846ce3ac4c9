using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ProxySidecar.Tls;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// The in-process sidecars of these tests run like the real binary: OpenSSL takes the TLS policy from
/// openssl-tls-policy.cnf, applied before anything in the test process uses TLS (as Program.Main does).
/// Child sidecar processes do not inherit it (SidecarProcess drops OPENSSL_CONF) and apply it themselves.
/// </summary>
internal static class OpenSslSetup
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "Must run before any test touches TLS; OpenSSL reads its configuration once.")]
    internal static void Initialize() => OpenSslTlsPolicy.Apply();
}
