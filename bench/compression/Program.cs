using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

// Usage: CompressionLevels <repository root> [milliseconds per measurement]
// Prints a Markdown table: for each payload and level, the compressed size as a share of the original and the CPU
// time per KiB of input (the process's own CPU time: run it pinned to one core), one shot and streamed.
var root = args.Length > 0 ? args[0] : ".";
var budget = TimeSpan.FromMilliseconds(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300);

var payloads = new List<(string Name, byte[] Bytes)>();
foreach (var size in new[] { 16 * 1024, 128 * 1024 })
{
    payloads.Add(($"HTML {size / 1024} KiB", Cut(Html(root), size)));
    payloads.Add(($"JSON {size / 1024} KiB", Cut(Json(), size)));
    payloads.Add(($"code {size / 1024} KiB", Cut(Code(root), size)));
}

var levels = new List<(string Coding, int Level)>();
levels.AddRange(Enumerable.Range(0, 12).Select(q => ("br", q)));
levels.AddRange(Enumerable.Range(1, 9).Select(l => ("gzip", l)));

Console.WriteLine($"{Environment.ProcessorCount} cores, {RuntimeInfo()}; {budget.TotalMilliseconds} ms per figure, median of 3");
Console.WriteLine();
Console.WriteLine("| payload | coding | level | size, one shot | µs/KiB, one shot | size, streamed | µs/KiB, streamed (16 KiB writes, each flushed) |");
Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
foreach (var (name, bytes) in payloads)
{
    foreach (var (coding, level) in levels)
    {
        var oneShot = Measure(() => OneShot(bytes, coding, level), bytes.Length, budget);
        var streamed = Measure(() => Streamed(bytes, coding, level), bytes.Length, budget);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {coding} | {level} | {oneShot.Ratio:P1} | {oneShot.MicrosPerKiB:F1} | {streamed.Ratio:P1} | {streamed.MicrosPerKiB:F1} |"));
    }
}

static (double Ratio, double MicrosPerKiB) Measure(Func<int> run, int inputLength, TimeSpan budget)
{
    var output = run();
    var runs = new List<double>();
    for (var round = 0; round < 3; round++)
    {
        var start = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var count = 0;
        while (clock.Elapsed < budget)
        {
            run();
            count++;
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime - start;
        runs.Add(cpu.TotalMicroseconds / count / (inputLength / 1024.0));
    }

    runs.Sort();
    return ((double)output / inputLength, runs[1]);
}

static int OneShot(byte[] input, string coding, int level)
{
    if (coding == "br")
    {
        var window = Math.Clamp(64 - (int)ulong.LeadingZeroCount((ulong)Math.Max(1, input.Length - 1)), 10, 22);
        var destination = new byte[BrotliEncoder.GetMaxCompressedLength(input.Length)];
        BrotliEncoder.TryCompress(input, destination, out var written, level, window);
        return written;
    }

    using var output = new MemoryStream();
    using (var gzip = new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
    {
        gzip.Write(input);
    }

    return (int)output.Length;
}

static int Streamed(byte[] input, string coding, int level)
{
    using var output = new MemoryStream();
    using (Stream encoder = coding == "br"
        ? new BrotliStream(output, new BrotliCompressionOptions { Quality = level }, leaveOpen: true)
        : new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
    {
        for (var offset = 0; offset < input.Length; offset += 16 * 1024)
        {
            encoder.Write(input.AsSpan(offset, Math.Min(16 * 1024, input.Length - offset)));
            encoder.Flush();
        }
    }

    return (int)output.Length;
}

static byte[] Cut(byte[] bytes, int size)
{
    var result = new byte[size];
    for (var offset = 0; offset < size; offset += bytes.Length)
    {
        bytes.AsSpan(0, Math.Min(bytes.Length, size - offset)).CopyTo(result.AsSpan(offset));
    }

    return result;
}

// The repository's documentation as an HTML page: prose, headings, lists, tables and code in markup.
static byte[] Html(string root)
{
    var html = new StringBuilder("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Docs</title><link rel=\"stylesheet\" href=\"/site.css\"></head><body><main class=\"content\">\n");
    foreach (var file in Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
    {
        foreach (var line in File.ReadLines(file))
        {
            var text = System.Net.WebUtility.HtmlEncode(line);
            html.Append(line.StartsWith('#') ? $"<h2 class=\"title\">{text.TrimStart('#', ' ')}</h2>\n"
                : line.StartsWith("- ", StringComparison.Ordinal) ? $"<li class=\"item\">{text[2..]}</li>\n"
                : line.StartsWith('|') ? $"<tr><td>{text.Replace("|", "</td><td>", StringComparison.Ordinal)}</td></tr>\n"
                : line.Length == 0 ? "\n" : $"<p class=\"para\">{text}</p>\n");
        }
    }

    return Encoding.UTF8.GetBytes(html.Append("</main></body></html>\n").ToString());
}

// An API's answer: a list of records with ids, names, times, numbers and flags (the same every run).
static byte[] Json()
{
    var random = new Random(42);
    string[] words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"];
    var items = Enumerable.Range(0, 2000).Select(i => new Dictionary<string, object>
    {
        ["id"] = 100000 + i,
        ["name"] = $"{words[random.Next(words.Length)]} {words[random.Next(words.Length)]}",
        ["created"] = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(random.Next(30_000_000)).ToString("O", CultureInfo.InvariantCulture),
        ["price"] = Math.Round(random.NextDouble() * 1000, 2),
        ["tags"] = Enumerable.Range(0, random.Next(4)).Select(_ => words[random.Next(words.Length)]).ToArray(),
        ["active"] = random.Next(2) == 0,
    });
    return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["items"] = items.ToArray(), ["page"] = 1 });
}

// Program text (as JavaScript bundles are): the sidecar's own sources.
static byte[] Code(string root)
{
    var text = new StringBuilder();
    foreach (var file in Directory.GetFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
    {
        text.Append(File.ReadAllText(file));
    }

    return Encoding.UTF8.GetBytes(text.ToString());
}

static string RuntimeInfo() => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription;

