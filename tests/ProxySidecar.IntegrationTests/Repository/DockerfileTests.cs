using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using ProxySidecar.Hosting;
using Xunit.Abstractions;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>
/// There is no Docker engine here, so the Dockerfile is checked for what can be proven without one:
/// its instructions agree with the application's defaults, and its build stage really publishes.
/// </summary>
public sealed class DockerfileTests(ITestOutputHelper output)
{
    private static readonly Lazy<Dockerfile> File = new(() => Dockerfile.Parse(System.IO.File.ReadAllText(RepositoryRoot.Combine("Dockerfile"))));

    private static Stage JitStage => Assert.Single(File.Value.Stages, s => s.Name == "jit");

    /// <summary>The default image (the last stage) is the Native AOT executable on runtime-deps: no .NET runtime in it.</summary>
    [Fact]
    public void DefaultImage_IsTheNativeAotExecutableOnRuntimeDeps()
    {
        var runtime = File.Value.Stages[^1];
        var build = Assert.Single(File.Value.Stages, s => s.Name == "build-aot");

        Assert.Equal("aot", runtime.Name);
        Assert.Equal("mcr.microsoft.com/dotnet/runtime-deps:10.0", runtime.From);
        Assert.Equal<string>(["/app/ProxySidecar"], JsonSerializer.Deserialize<string[]>(Assert.Single(runtime.Arguments("ENTRYPOINT")))!);
        Assert.Contains(runtime.Arguments("COPY"), c => c.StartsWith("--from=build-aot ", StringComparison.Ordinal));
        Assert.Contains(build.Arguments("RUN"), r => r.Contains("dotnet publish", StringComparison.Ordinal) && r.Contains("-p:PublishAot=true", StringComparison.Ordinal));
    }

    /// <summary>The publish that tests/run.sh tests is the one the image builds: same project, configuration, runtime and AOT switch.</summary>
    [Fact]
    public void DefaultImage_PublishesWhatTheTestSuiteTests()
    {
        var stage = Assert.Single(File.Value.Stages, s => s.Name == "build-aot");
        var publish = Assert.Single(stage.Arguments("RUN"), r => r.Contains("dotnet publish", StringComparison.Ordinal))
            .Replace("linux-$arch", "linux-" + stage.DotnetArch("amd64"), StringComparison.Ordinal);
        var suite = System.IO.File.ReadAllLines(RepositoryRoot.Combine("tests/run.sh")).Single(l => l.Contains("dotnet publish", StringComparison.Ordinal));

        foreach (var part in new[] { "src/ProxySidecar/ProxySidecar.csproj", "-c Release", "-r linux-x64", "-p:PublishAot=true" })
        {
            Assert.Contains(part, publish, StringComparison.Ordinal);
            Assert.Contains(part, suite, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Expose_MatchesTheApplicationsDefaultPorts()
    {
        var hosting = new HostingOptions();
        foreach (var stage in new[] { File.Value.Stages[^1], JitStage })
        {
            var exposed = stage.Arguments("EXPOSE").SelectMany(a => a.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(p => int.Parse(p.Split('/')[0], System.Globalization.CultureInfo.InvariantCulture));

            Assert.Equal(new[] { hosting.HttpsPort, hosting.AdminPort }.Order(), exposed.Order());
        }
    }

    [Fact]
    public void User_IsNotRoot()
    {
        foreach (var stage in new[] { File.Value.Stages[^1], JitStage })
        {
            var user = Assert.Single(stage.Arguments("USER")).Split(':')[0];

            Assert.True(user is "$APP_UID" or "${APP_UID}" || (int.TryParse(user, out var uid) && uid > 0), $"USER {user} is root or unknown");
        }
    }

    /// <summary>The framework-dependent image (<c>docker build --target jit</c>) on the ASP.NET runtime.</summary>
    [Fact]
    public void JitStage_RunsProxySidecarDllOnTheAspNetImage()
    {
        var jit = JitStage;
        var argv = JsonSerializer.Deserialize<string[]>(Assert.Single(jit.Arguments("ENTRYPOINT")));

        Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", jit.From);
        Assert.NotNull(argv);
        Assert.Equal("dotnet", argv[0]);
        Assert.EndsWith("/ProxySidecar.dll", argv[1], StringComparison.Ordinal);
        Assert.Contains(jit.Arguments("COPY"), c => c.StartsWith("--from=build ", StringComparison.Ordinal));
    }

    [Fact]
    public void NoKeyOrCertificate_IsCopiedIntoTheImage()
    {
        string[] secrets = [".key", ".pem", ".pfx", ".p12", ".crt", "certs/"];
        foreach (var copy in File.Value.Stages.SelectMany(s => s.Arguments("COPY")))
        {
            Assert.DoesNotContain(secrets, s => copy.Contains(s, StringComparison.Ordinal));
        }

        var ignored = System.IO.File.ReadAllLines(RepositoryRoot.Combine(".dockerignore")).Select(l => l.Trim());
        Assert.Superset(new HashSet<string>(["**/bin/", "**/obj/", "certs/", "**/*.key", "**/*.pem"], StringComparer.Ordinal), ignored.ToHashSet(StringComparer.Ordinal));
    }

    [Fact]
    public void Runtime_WritesNothingOutsideTmp()
    {
        foreach (var stage in new[] { File.Value.Stages[^1], JitStage })
        {
            var env = stage.Arguments("ENV");

            Assert.Contains(env, e => e.Contains("TMPDIR=/tmp", StringComparison.Ordinal));
            Assert.Contains(env, e => e.Contains("HOME=/tmp", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// Both build stages run on the build machine's architecture and compile for the image's: BuildKit's TARGETARCH
    /// (amd64, arm64) becomes .NET's architecture (x64, arm64) in <c>-r linux-$arch</c> for restore and publish. The
    /// runtime stages are pulled for the target platform (no --platform of their own).
    /// </summary>
    [Fact]
    public void BuildStages_RunOnTheBuildPlatform_AndRestoreAndPublishForTheTargetArchitecture()
    {
        foreach (var name in new[] { "build", "build-aot" })
        {
            var stage = Assert.Single(File.Value.Stages, s => s.Name == name);

            Assert.Equal(["--platform=$BUILDPLATFORM"], stage.Flags);
            Assert.Contains("TARGETARCH", stage.Arguments("ARG"));
            Assert.Equal("x64", stage.DotnetArch("amd64"));
            Assert.Equal("arm64", stage.DotnetArch("arm64"));
            var restore = Assert.Single(stage.Arguments("RUN"), r => r.Contains("dotnet restore", StringComparison.Ordinal));
            var publish = Assert.Single(stage.Arguments("RUN"), r => r.Contains("dotnet publish", StringComparison.Ordinal));
            foreach (var command in new[] { restore, publish })
            {
                Assert.StartsWith("arch=$(cat /arch) && ", command, StringComparison.Ordinal);
                Assert.Contains(" -r linux-$arch", command, StringComparison.Ordinal);
            }
        }

        foreach (var stage in new[] { File.Value.Stages[^1], JitStage })
        {
            Assert.Empty(stage.Flags ?? []);
        }
    }

    /// <summary>The Native AOT stage links with clang; for another architecture it installs that architecture's C runtime, binutils and zlib.</summary>
    [Fact]
    public void AotStage_InstallsTheCrossLinkingToolchainOnlyForAnotherArchitecture()
    {
        var install = Assert.Single(Assert.Single(File.Value.Stages, s => s.Name == "build-aot").Arguments("RUN"), r => r.Contains("apt-get install", StringComparison.Ordinal));

        Assert.Contains("packages=\"clang llvm zlib1g-dev\"", install, StringComparison.Ordinal);
        Assert.Contains("if [ \"$TARGETARCH\" != \"$BUILDARCH\" ]", install, StringComparison.Ordinal);
        Assert.Contains("packages=\"$packages binutils-$triple gcc-$triple zlib1g-dev:$TARGETARCH\"", install, StringComparison.Ordinal);
        Assert.Contains("amd64) echo x64 > /arch; triple=x86-64-linux-gnu;", install, StringComparison.Ordinal);
        Assert.Contains("arm64) echo arm64 > /arch; triple=aarch64-linux-gnu;", install, StringComparison.Ordinal);
        Assert.Contains("dpkg --add-architecture \"$TARGETARCH\"", install, StringComparison.Ordinal);
    }

    /// <summary>Both images say what they are: OCI labels from build arguments, the version defaulting to the project's.</summary>
    [Fact]
    public void RuntimeStages_CarryOciLabels_WithTheProjectsVersion()
    {
        Assert.Equal(ManifestTests.ProjectVersion.Value, File.Value.GlobalDefault("VERSION"));
        Assert.NotNull(File.Value.GlobalDefault("SOURCE_URL"));
        Assert.False(string.IsNullOrEmpty(File.Value.GlobalDefault("LICENSES")));
        foreach (var stage in new[] { File.Value.Stages[^1], JitStage })
        {
            var labels = stage.Labels();

            Assert.Equal("$VERSION", labels["org.opencontainers.image.version"]);
            Assert.Equal("$SOURCE_URL", labels["org.opencontainers.image.source"]);
            Assert.Equal("$LICENSES", labels["org.opencontainers.image.licenses"]);
            Assert.Equal("ProxySidecar", labels["org.opencontainers.image.title"]);
            Assert.Superset(new HashSet<string>(["VERSION", "SOURCE_URL", "LICENSES"], StringComparer.Ordinal), stage.Arguments("ARG").ToHashSet(StringComparer.Ordinal));
        }

        foreach (var stage in File.Value.Stages.Where(s => s.Name is "build" or "build-aot"))
        {
            Assert.Contains(" -p:Version=$VERSION ", Assert.Single(stage.Arguments("RUN"), r => r.Contains("dotnet publish", StringComparison.Ordinal)), StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Runs the framework-dependent build stage as Docker would: its COPY instructions into a fresh directory, then its
    /// RUN commands (about 30 s, once), for linux/arm64 from this machine: BuildKit would give them TARGETARCH=arm64 and
    /// the build arguments as environment variables. The AOT stage's publish is the one tests/run.sh runs and tests.
    /// </summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void BuildStage_CopyRestorePublish_ProducesProxySidecarDll()
    {
        var build = File.Value.Stages[0];
        var root = Path.Combine(Path.GetTempPath(), "proxysidecar-docker", Guid.NewGuid().ToString("N"));
        var app = Path.Combine(root, "app");
        var workdir = Path.Combine(root, Assert.Single(build.Arguments("WORKDIR")).TrimStart('/'));
        Directory.CreateDirectory(workdir);
        try
        {
            foreach (var (instruction, arguments) in build.Instructions)
            {
                if (instruction == "COPY")
                {
                    Copy(arguments, workdir);
                }
                else if (instruction == "RUN")
                {
                    var command = arguments.Replace(" /app", " " + app, StringComparison.Ordinal).Replace(" /arch", " " + Path.Combine(root, "arch"), StringComparison.Ordinal);
                    Run(command, workdir, new Dictionary<string, string> { ["TARGETARCH"] = "arm64", ["VERSION"] = File.Value.GlobalDefault("VERSION")! });
                }
            }

            Assert.True(System.IO.File.Exists(Path.Combine(app, "ProxySidecar.dll")), "the publish output has no ProxySidecar.dll");
            using (var runtimeConfig = JsonDocument.Parse(System.IO.File.ReadAllText(Path.Combine(app, "ProxySidecar.deps.json"))))
            {
                Assert.Equal(".NETCoreApp,Version=v10.0/linux-arm64", runtimeConfig.RootElement.GetProperty("runtimeTarget").GetProperty("name").GetString());
            }

            Assert.True(System.IO.File.Exists(Path.Combine(app, "appsettings.json")));
            Assert.DoesNotContain(Directory.EnumerateFiles(app, "*", SearchOption.AllDirectories), f => f.EndsWith(".key", StringComparison.Ordinal) || f.EndsWith(".pem", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static void Copy(string arguments, string workdir)
    {
        var parts = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(parts, p => p.StartsWith("--", StringComparison.Ordinal));
        var destination = Path.Combine(workdir, parts[^1]);
        foreach (var source in parts[..^1])
        {
            var from = RepositoryRoot.Combine(source);
            if (Directory.Exists(from))
            {
                CopyDirectory(from, destination);
            }
            else
            {
                Directory.CreateDirectory(destination);
                System.IO.File.Copy(from, Path.Combine(destination, Path.GetFileName(from)));
            }
        }
    }

    // .dockerignore keeps bin/ and obj/ out of the build context.
    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            System.IO.File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        }

        foreach (var directory in Directory.EnumerateDirectories(from).Where(d => Path.GetFileName(d) is not ("bin" or "obj")))
        {
            CopyDirectory(directory, Path.Combine(to, Path.GetFileName(directory)));
        }
    }

    private void Run(string command, string workdir, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = workdir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), $"{command} did not finish in 5 minutes");
        output.WriteLine($"$ {command}\n{stdout.Result}{stderr.Result}");
        Assert.True(process.ExitCode == 0, $"{command} failed ({process.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
    }

    /// <summary>Dockerfile instructions by stage, continuation lines joined, comments dropped.</summary>
    private sealed record Dockerfile(IReadOnlyList<Stage> Stages, IReadOnlyList<string> GlobalArgs)
    {
        /// <summary>The default of a global ARG (declared before the first FROM), or null.</summary>
        public string? GlobalDefault(string name) =>
            GlobalArgs.Select(a => a.Split('=', 2)).Where(p => p[0] == name).Select(p => p.Length > 1 ? p[1] : "").SingleOrDefault();

        public static Dockerfile Parse(string text)
        {
            var stages = new List<Stage>();
            var globalArgs = new List<string>();
            var logical = new List<string>();
            var current = "";
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.TrimEnd();
                if (current.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0))
                {
                    continue;
                }

                if (line.EndsWith('\\'))
                {
                    current += line[..^1].Trim() + " ";
                    continue;
                }

                logical.Add((current + line.Trim()).Trim());
                current = "";
            }

            foreach (var line in logical)
            {
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                var instruction = line[..space].ToUpperInvariant();
                var arguments = line[(space + 1)..].Trim();
                if (instruction == "FROM")
                {
                    var all = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    var flags = all.TakeWhile(w => w.StartsWith("--", StringComparison.Ordinal)).ToList();
                    var words = all.Skip(flags.Count).ToArray();
                    var name = words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[2] : null;
                    stages.Add(new Stage(words[0], [], name, flags));
                }
                else if (stages.Count == 0)
                {
                    Assert.Equal("ARG", instruction);
                    globalArgs.Add(arguments);
                }
                else
                {
                    Assert.NotEmpty(stages);
                    stages[^1].Instructions.Add((instruction, arguments));
                }
            }

            return new Dockerfile(stages, globalArgs);
        }
    }

    private sealed record Stage(string From, List<(string Instruction, string Arguments)> Instructions, string? Name = null, IReadOnlyList<string>? Flags = null)
    {
        public IEnumerable<string> Arguments(string instruction) =>
            Instructions.Where(i => i.Instruction == instruction).Select(i => i.Arguments);

        /// <summary>The .NET architecture the stage's own case statement gives for a BuildKit TARGETARCH ("amd64) echo x64 > /arch").</summary>
        public string DotnetArch(string targetArch)
        {
            var run = Assert.Single(Arguments("RUN"), r => r.Contains("> /arch", StringComparison.Ordinal));
            return Regex.Match(run, Regex.Escape(targetArch) + @"\) echo (\S+) > /arch").Groups[1].Value;
        }

        /// <summary>The stage's LABEL pairs.</summary>
        public Dictionary<string, string> Labels() =>
            Arguments("LABEL").SelectMany(l => Regex.Matches(l, "([A-Za-z0-9_.-]+)=\"([^\"]*)\"")).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
    }
}
