using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace ProxySidecar.Tests.Repository;

/// <summary>
/// The documentation cannot drift from the code: docs/configuration.md documents every setting the sidecar
/// binds, with its real default, and names no setting that does not exist, and so does appsettings.example.json;
/// every relative link in README.md, CHANGELOG.md, docs/ and bench/README.md leads somewhere.
/// </summary>
public sealed partial class DocumentationTests
{
    private const string ListIndex = "{n}";

    private static readonly string[] FrontPages = ["README.md", "CHANGELOG.md", "bench/README.md"];

    private static readonly string Root = RepositoryLayoutTests.FindRoot();

    /// <summary>Every bindable key of every options type with a Sidecar:* section, and the default a new instance has.</summary>
    private static readonly Lazy<IReadOnlyDictionary<string, Setting>> Settings = new(FindSettings);

    private static readonly Lazy<IReadOnlyDictionary<string, string>> DocumentedDefaults = new(() => ReadTableKeys(Read("docs/configuration.md")));

    [Fact]
    public void OptionsTypes_AreFound()
    {
        // Guards the reflection below: if it stopped finding the options, every other check would pass vacuously.
        var keys = Settings.Value.Keys.ToList();
        Assert.Contains("Sidecar:Hosting:HttpsPort", keys);
        Assert.Contains("Sidecar:Tls:ClientCertificate:Mode", keys);
        Assert.Contains("Sidecar:Cache:Rules", keys);
        Assert.Contains("Sidecar:Cache:Rules:{n}:Path", keys);
        Assert.Contains("Sidecar:Cache:Redis:Breaker:FailureRatio", keys);
        Assert.Contains("Sidecar:ConfigFile", keys);
        Assert.True(keys.Count > 60, $"only {keys.Count} settings found");
    }

    [Fact]
    public void ConfigurationPage_HasARowForEverySetting()
    {
        var missing = Settings.Value.Keys.Where(k => !DocumentedDefaults.Value.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();

        Assert.True(missing.Count == 0, "docs/configuration.md has no table row for: " + string.Join(", ", missing));
    }

    [Fact]
    public void ConfigurationPage_RowsAreSettingsThatExist()
    {
        var unknown = DocumentedDefaults.Value.Keys.Where(k => !Settings.Value.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();

        Assert.True(unknown.Count == 0, "docs/configuration.md has rows for keys no options type binds: " + string.Join(", ", unknown));
    }

    /// <summary>Where a row's default is written as a value (in backticks), it is the default the options type really has.</summary>
    [Fact]
    public void ConfigurationPage_DefaultsAreTheRealDefaults()
    {
        var wrong = new List<string>();
        foreach (var (key, cell) in DocumentedDefaults.Value)
        {
            if (!Settings.Value.TryGetValue(key, out var setting) || setting.Type is null || DefaultValue().Match(cell) is not { Success: true } match)
            {
                continue;
            }

            var written = match.Groups["value"].Value;
            if (!Same(setting.Type, setting.Default, written))
            {
                wrong.Add($"{key}: the page says {written}, the code says {Format(setting.Default)}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    /// <summary>A key named anywhere in the README or docs/ (as Sidecar:A:B or Sidecar__A__B) is a setting, an item of a list setting, or a section.</summary>
    [Fact]
    public void Documentation_NamesOnlySettingsThatExist()
    {
        var sections = Settings.Value.Keys.SelectMany(Prefixes).ToHashSet(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (var file in DocumentationFiles())
        {
            foreach (Match match in KeyMention().Matches(Read(file)))
            {
                var key = Normalise(match.Value.Replace("__", ":", StringComparison.Ordinal));
                var item = key.EndsWith(":" + ListIndex, StringComparison.Ordinal) && Settings.Value.ContainsKey(key[..^(ListIndex.Length + 1)]);
                if (!Settings.Value.ContainsKey(key) && !sections.Contains(key) && !item)
                {
                    unknown.Add($"{file}: {match.Value}");
                }
            }
        }

        Assert.True(unknown.Count == 0, "Keys no options type binds: " + string.Join(", ", unknown.Distinct()));
    }

    /// <summary>
    /// src/ProxySidecar/appsettings.example.json loads through .NET's JSON configuration (comments and all), holds
    /// every setting but the items of rule lists (shown in comments), each with its real default, and nothing else.
    /// </summary>
    [Fact]
    public void ExampleSettings_HoldEverySettingWithItsDefault()
    {
        var path = Path.Combine(Root, "src", "ProxySidecar", "appsettings.example.json");
        var loaded = new ConfigurationBuilder().AddJsonFile(path).Build();
        Assert.Equal("http://127.0.0.1:8080", loaded["Sidecar:Upstream:Address"]);

        var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
        using var example = JsonDocument.Parse(File.ReadAllText(path), options);
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        Flatten("Sidecar", example.RootElement.GetProperty("Sidecar"), values);

        var unknown = values.Keys.Where(k => !Settings.Value.ContainsKey(k)).ToList();
        var missing = Settings.Value.Keys.Where(k => !k.Contains(ListIndex, StringComparison.Ordinal) && !values.ContainsKey(k)).ToList();
        var wrong = values
            .Where(v => Settings.Value.TryGetValue(v.Key, out var setting) && setting.Type is not null
                && !(v.Value.ValueKind == JsonValueKind.Null ? setting.Default is null : Same(setting.Type, setting.Default, v.Value.ToString())))
            .Select(v => $"{v.Key}: {v.Value} (default {Format(Settings.Value[v.Key].Default)})")
            .ToList();

        Assert.True(unknown.Count == 0, "appsettings.example.json has keys no options type binds: " + string.Join(", ", unknown));
        Assert.True(missing.Count == 0, "appsettings.example.json lacks: " + string.Join(", ", missing));
        Assert.True(wrong.Count == 0, "appsettings.example.json differs from the defaults: " + string.Join(", ", wrong));
    }

    /// <summary>
    /// Every message the sidecar can print when it refuses to start (option validators, certificate and file
    /// errors, the extra file, OTLP variables) has its entry in docs/operations.md: each literal part of the
    /// message (the text between the values it shows) is found there.
    /// </summary>
    [Fact]
    public void OperationsPage_ExplainsEveryStartupMessage()
    {
        var page = Whitespace().Replace(Read("docs/operations.md"), " ");
        var messages = StartupMessages().ToList();
        Assert.True(messages.Count > 60, $"only {messages.Count} start-up messages found in src/");

        var missing = messages
            .Where(m => m.Parts.Any(part => !page.Contains(Whitespace().Replace(part, " "), StringComparison.Ordinal)))
            .Select(m => $"{m.File}: {string.Join(" … ", m.Parts)}")
            .ToList();

        Assert.True(missing.Count == 0, "docs/operations.md has no entry for:" + Environment.NewLine + string.Join(Environment.NewLine, missing));
    }

    [Fact]
    public void Documentation_RelativeLinksAndAnchorsResolve()
    {
        var broken = new List<string>();
        foreach (var file in DocumentationFiles())
        {
            var text = CodeBlock().Replace(Read(file), string.Empty);
            foreach (Match link in Link().Matches(text))
            {
                var target = link.Groups["target"].Value;
                if (Scheme().IsMatch(target))
                {
                    continue;
                }

                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var path = hash < 0 ? target : target[..hash];
                var anchor = hash < 0 ? null : target[(hash + 1)..];
                var resolved = path.Length == 0 ? Path.Combine(Root, file) : Path.GetFullPath(Path.Combine(Root, Path.GetDirectoryName(file)!, path));
                if (!File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    broken.Add($"{file}: {target} (no such file)");
                }
                else if (anchor is not null && resolved.EndsWith(".md", StringComparison.Ordinal) && !Anchors(File.ReadAllText(resolved)).Contains(anchor))
                {
                    broken.Add($"{file}: {target} (no such heading)");
                }
            }
        }

        Assert.True(broken.Count == 0, "Broken links: " + string.Join(Environment.NewLine, broken));
    }

    [Theory]
    [InlineData("configuration.md")]
    [InlineData("forwarding.md")]
    [InlineData("certificates.md")]
    [InlineData("caching.md")]
    [InlineData("compression.md")]
    [InlineData("shared-cache.md")]
    [InlineData("telemetry.md")]
    [InlineData("operations.md")]
    [InlineData("kubernetes.md")]
    [InlineData("limits.md")]
    public void DocsPage_StartsWithATitleASummaryAndContents(string page)
    {
        var lines = Read("docs/" + page).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');

        Assert.StartsWith("# ", lines[0], StringComparison.Ordinal);
        Assert.Equal(string.Empty, lines[1]);
        Assert.True(lines[2].Length > 0 && lines[3].Length > 0 && lines[4].Length == 0, $"docs/{page}: a two-line summary follows the title");
        Assert.StartsWith("- [", lines[5], StringComparison.Ordinal);
        Assert.Contains($"docs/{page}", Read("README.md"), StringComparison.Ordinal);
    }

    [Fact]
    public void Readme_IsAShortFrontPage()
    {
        var readme = Read("README.md");

        Assert.True(readme.Length < 12_000, $"README.md is {readme.Length} characters");
    }

    /// <summary>GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces as -, repeats numbered.</summary>
    internal static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match heading in Heading().Matches(CodeBlock().Replace(markdown, string.Empty)))
        {
            var text = heading.Groups["text"].Value.Trim().Replace("`", string.Empty, StringComparison.Ordinal).Replace("\\", string.Empty, StringComparison.Ordinal);
            var slug = AnchorPunctuation().Replace(text.ToLowerInvariant(), string.Empty).Replace(' ', '-');
            var count = seen.GetValueOrDefault(slug);
            seen[slug] = count + 1;
            anchors.Add(count == 0 ? slug : $"{slug}-{count}");
        }

        return anchors;
    }

    private static Dictionary<string, Setting> FindSettings()
    {
        var settings = new Dictionary<string, Setting>(StringComparer.Ordinal);
        foreach (var type in typeof(ProxySidecar.Hosting.HostingOptions).Assembly.GetTypes())
        {
            var section = type.GetField("Section", BindingFlags.Public | BindingFlags.Static);
            if (section is { IsLiteral: true } && section.GetRawConstantValue() is string name && name.StartsWith("Sidecar:", StringComparison.Ordinal))
            {
                Walk(name, type, Activator.CreateInstance(type), settings);
            }

            // Keys read straight from the configuration rather than bound (the extra file's path, its poll interval).
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
            {
                if (field is { IsLiteral: true, Name: not "Section" } && field.GetRawConstantValue() is string value && ConfigurationKey().IsMatch(value))
                {
                    settings.TryAdd(value, new Setting(null, null));
                }
            }
        }

        return settings;
    }

    /// <summary>The keys of <paramref name="type"/>'s public settable properties (and bindable lists), nested sections included.</summary>
    private static void Walk(string prefix, Type type, object? instance, Dictionary<string, Setting> settings)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var key = prefix + ":" + property.Name;
            var value = instance is null ? null : property.GetValue(instance);
            var element = ElementType(property.PropertyType);
            if (element is not null)
            {
                settings[key] = new Setting(null, null);
                if (!IsScalar(element))
                {
                    Walk(key + ":" + ListIndex, element, Activator.CreateInstance(element), settings);
                }
            }
            else if (property.SetMethod is { IsPublic: true })
            {
                if (IsScalar(property.PropertyType))
                {
                    settings[key] = new Setting(property.PropertyType, value);
                }
                else
                {
                    Walk(key, property.PropertyType, value ?? Activator.CreateInstance(property.PropertyType), settings);
                }
            }
        }
    }

    private static Type? ElementType(Type type) =>
        type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type) && type.IsGenericType ? type.GetGenericArguments()[0] : null;

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal) || type == typeof(Uri);
    }

    /// <summary>
    /// The messages of errors.Add(...), new SidecarStartupException(...) and new CertificateLoadException(...) in
    /// src/: their string literals (concatenated), cut at each interpolation hole; parts shorter than 12
    /// characters ("the ", ": ") say nothing alone and are left out.
    /// </summary>
    private static IEnumerable<(string File, string[] Parts)> StartupMessages()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "src", "ProxySidecar"), "*.cs", SearchOption.AllDirectories))
        {
            var code = File.ReadAllText(file);
            foreach (Match call in StartupMessageCall().Matches(code))
            {
                var parts = new List<string>();
                var at = call.Index + call.Length;
                while (ReadLiteral(code, ref at) is { } literal)
                {
                    parts.AddRange(InterpolationHole().Split(literal).Select(p => p.Replace("{{", "{", StringComparison.Ordinal)).Where(p => p.Trim().Length >= 12));
                    var next = ConcatenatedLiteral().Match(code, at);
                    if (!next.Success || next.Index != at)
                    {
                        break;
                    }

                    at += next.Length;
                }

                if (parts.Count > 0)
                {
                    yield return (Path.GetRelativePath(Root, file), parts.ToArray());
                }
            }
        }
    }

    /// <summary>Reads a C# string literal ("..." or $"...") at <paramref name="at"/>, unescaped, with interpolations as {…}.</summary>
    private static string? ReadLiteral(string code, ref int at)
    {
        var interpolated = code[at] == '$';
        var i = interpolated ? at + 1 : at;
        if (i >= code.Length || code[i] != '"')
        {
            return null;
        }

        var text = new System.Text.StringBuilder();
        for (i++; i < code.Length && code[i] != '"'; i++)
        {
            if (code[i] == '\\')
            {
                i++;
                text.Append(code[i] switch { 'n' => '\n', 't' => '\t', _ => code[i] });
            }
            else if (interpolated && code[i] == '{' && code[i + 1] == '{')
            {
                text.Append("{{");
                i++;
            }
            else if (interpolated && code[i] == '{')
            {
                // Skip the hole, including any string literals inside it.
                var depth = 1;
                for (i++; depth > 0; i++)
                {
                    if (code[i] == '"')
                    {
                        for (i++; code[i] != '"'; i++)
                        {
                            i += code[i] == '\\' ? 1 : 0;
                        }
                    }
                    else
                    {
                        depth += code[i] == '{' ? 1 : code[i] == '}' ? -1 : 0;
                    }
                }

                i--;
                text.Append("{…}");
            }
            else
            {
                text.Append(code[i]);
            }
        }

        at = i + 1;
        return text.ToString();
    }

    /// <summary>The example file's keys: objects are sections, arrays are list settings, the rest are values.</summary>
    private static void Flatten(string prefix, JsonElement element, Dictionary<string, JsonElement> values)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            values[prefix] = element;
            return;
        }

        foreach (var property in element.EnumerateObject())
        {
            Flatten(prefix + ":" + property.Name, property.Value, values);
        }
    }

    /// <summary>Rows of the page's tables whose first cell is a Sidecar key: key → the second cell (the default).</summary>
    private static Dictionary<string, string> ReadTableKeys(string page)
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in page.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            var cells = line.Split('|');
            if (cells.Length > 3 && cells[0].Length == 0 && TableKey().Match(cells[1].Trim()) is { Success: true } key)
            {
                Assert.True(rows.TryAdd(Normalise(key.Groups["key"].Value), cells[2].Trim()), "docs/configuration.md has two rows for " + key.Value);
            }
        }

        return rows;
    }

    private static bool Same(Type type, object? actual, string written)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        try
        {
            object parsed = target == typeof(TimeSpan) ? TimeSpan.Parse(written, CultureInfo.InvariantCulture)
                : target == typeof(string) ? written
                : target.IsEnum ? Enum.Parse(target, written)
                : Convert.ChangeType(written, target, CultureInfo.InvariantCulture);
            return Equals(parsed, actual);
        }
        catch (Exception error) when (error is FormatException or ArgumentException or InvalidCastException or OverflowException)
        {
            return false;
        }
    }

    private static string Format(object? value) => value switch
    {
        null => "none",
        TimeSpan span => span.ToString("c", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "none",
    };

    /// <summary>Sidecar:Cache:Rules:0:Path → Sidecar:Cache:Rules:{n}:Path.</summary>
    private static string Normalise(string key) => ListSegment().Replace(key, ":" + ListIndex);

    private static IEnumerable<string> Prefixes(string key)
    {
        for (var i = key.IndexOf(':', StringComparison.Ordinal); i > 0; i = key.IndexOf(':', i + 1))
        {
            yield return key[..i];
        }
    }

    private static IEnumerable<string> DocumentationFiles() =>
        FrontPages.Concat(Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md").Select(f => "docs/" + Path.GetFileName(f)).Order(StringComparer.Ordinal));

    private static string Read(string file) => File.ReadAllText(Path.Combine(Root, file));

    /// <summary>A key's type (null for lists and keys that are not bound) and the default of a new options instance.</summary>
    private sealed record Setting(Type? Type, object? Default);

    [GeneratedRegex(@"^`(?<key>Sidecar(:[A-Za-z0-9{}]+)+)`$")]
    private static partial Regex TableKey();

    [GeneratedRegex(@"^Sidecar(:[A-Za-z]+)+$")]
    private static partial Regex ConfigurationKey();

    [GeneratedRegex(@"^`(?<value>[^`]+)`")]
    private static partial Regex DefaultValue();

    // A key's names may hold digits after the first letter (Ipv6PrefixLength); a segment of digits alone is a list index.
    [GeneratedRegex(@"\bSidecar((:|__)([A-Za-z][A-Za-z0-9]*|\d+|\{n\}))+")]
    private static partial Regex KeyMention();

    [GeneratedRegex(@":(\d+|\{[a-z]+\})(?=:|$)")]
    private static partial Regex ListSegment();

    [GeneratedRegex(@"(errors\.Add|new SidecarStartupException|new CertificateLoadException)\((\s*\w+,)?\s*")]
    private static partial Regex StartupMessageCall();

    [GeneratedRegex(@"\s*\+\s*")]
    private static partial Regex ConcatenatedLiteral();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"\{…\}")]
    private static partial Regex InterpolationHole();

    [GeneratedRegex(@"(?<!!)\[[^\]]*\]\((?<target>[^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)]
    private static partial Regex Scheme();

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"^#{1,6} (?<text>.+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\p{L}\p{N} _-]")]
    private static partial Regex AnchorPunctuation();
}
