using System.Text;
using System.Text.Json.Nodes;

namespace AoaiAspire.Tests.Gateway.BadInput;

/// <summary>How a raw-socket case breaks HTTP framing on top of its other mutations.</summary>
internal enum Framing { None, LengthTooSmall, Chunked, ChunkedBadSize, DuplicateKeyHeader, LfOnly, HeaderWithoutColon }

/// <summary>One generated request: what it is, and how it goes out.</summary>
internal sealed record FuzzCase(int Index, string Method, string Target, List<KeyValuePair<string, string>> Headers, byte[]? Body, bool Raw, Framing Framing, List<string> Mutations)
{
    public string Describe() => $"#{Index} {Method} {Shorten(Target)} [{string.Join(", ", Mutations)}]{(Raw ? " raw:" + Framing : "")} headers={string.Join("|", Headers.Select(h => h.Key + ":" + Shorten(h.Value)))} body={(Body is null ? "none" : Shorten(Encoding.UTF8.GetString(Body)))}";

    private static string Shorten(string text) => text.Length <= 120 ? text : text[..120] + $"…({text.Length})";
}

/// <summary>
/// Mutates valid chat, completions and embeddings requests into malformed ones, reproducibly from a seed:
/// byte flips, truncation, inserted and deleted bytes, type swaps, deleted and duplicated fields, deep nesting,
/// path, query, header and method changes, and (for the raw-socket share) broken framing.
/// </summary>
/// <remarks>
/// Left out on purpose, because each has a table case of its own and would otherwise bench every backend
/// and drown the run in follow-on failures: operations the simulator lacks (images, audio), non-ASCII header
/// values, escaped lone surrogates, and valid-but-enormous token charges.
/// </remarks>
internal sealed class MalformedRequestGenerator(int seed)
{
    private readonly Random _random = new(seed);

    private static readonly (string Target, string Body)[] Seeds =
    [
        ("/openai/deployments/chat/chat/completions?api-version=2024-10-21", """{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":5,"temperature":0.5}"""),
        ("/openai/v1/chat/completions", """{"model":"chat","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5,"n":2}"""),
        ("/v1/chat/completions", """{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5}"""),
        ("/openai/deployments/chat/completions?api-version=2024-10-21", """{"prompt":"hi","max_tokens":5}"""),
        ("/openai/deployments/embeddings/embeddings?api-version=2024-10-21", """{"input":["hello","world"]}"""),
        ("/openai/v1/embeddings", """{"model":"embeddings","input":"hello"}"""),
    ];

    private static readonly string[] KnownFields = ["model", "stream", "max_tokens", "max_completion_tokens", "n", "stream_options", "messages", "input", "prompt"];

    private static readonly string[] OddValues =
    [
        "\"x\"", "\"\"", "0", "-1", "1.5", "1e300", "-1e300", "2147483648", "99999999999999999999", "true", "false", "null", "[]", "{}",
        "[[[[]]]]", "\"10\"", "{\"a\":1}", "[1,2,3]", "\"" + new string('z', 10_000) + "\"", "[" + string.Join(',', Enumerable.Repeat(7, 1000)) + "]",
        "{\"include_usage\":\"yes\"}", "[{\"role\":5}]", "\"chat\"", "\"embeddings\"", "\"nope\"",
    ];

    private static readonly string[] Deployments = ["nope", "%2e%2e", "..", "ch%2Fat", "模型", new string('d', 3000), "chat%00", "CHAT", "%20chat", "embeddings", "chat.", "chat%3Fx", "-", "%ZZ"];
    private static readonly string[] Operations = ["chat/completions/", "Chat/Completions", "fine_tuning/jobs", "", "chat//completions", "chat%2Fcompletions", "embeddings", "completions", "chat/completions/x", "batches", "chat", "models"];
    private static readonly string[] Queries = ["", "?api-version=", "?api-version=%ZZ", "?api-version=x&api-version=y", "?api-version=" + new string('1', 3000), "?&&=&", "?api-version=2099-01-01-preview", "?api-version=%00"];
    private static readonly string[] Methods = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "get"];
    private static readonly string[] ContentTypes = ["text/plain", "", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/jsonx", "*/*"];
    private static readonly byte[] SpecialBytes = [0, 0xFF, 0xC0, 0xED, 0x80, (byte)'"', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'\\', 0x1F, (byte)'\n', 0xEF];

    public FuzzCase Next(int index, bool raw)
    {
        var (target, json) = Seeds[_random.Next(Seeds.Length)];
        var mutations = new List<string>();
        var method = "POST";
        var headers = new List<KeyValuePair<string, string>> { new("api-key", BadInputGateway.Key), new("Content-Type", "application/json") };
        var body = Encoding.UTF8.GetBytes(json);
        var count = 1 + _random.Next(3);
        for (var i = 0; i < count; i++)
        {
            switch (_random.Next(100))
            {
                case < 40:
                    body = MutateBytes(body, mutations);
                    break;
                case < 70:
                    body = MutateJson(body, mutations);
                    break;
                case < 82:
                    target = MutatePath(target, raw, mutations);
                    break;
                case < 94:
                    MutateHeaders(headers, mutations);
                    break;
                default:
                    method = Methods[_random.Next(Methods.Length)];
                    mutations.Add("method " + method);
                    break;
            }
        }
        var framing = raw ? (Framing)_random.Next(Enum.GetValues<Framing>().Length) : Framing.None;
        return new FuzzCase(index, method, target, headers, body, raw, framing, mutations);
    }

    private byte[] MutateBytes(byte[] body, List<string> mutations)
    {
        if (body.Length == 0)
        {
            mutations.Add("bytes: garbage into empty");
            return [.. Enumerable.Range(0, 1 + _random.Next(64)).Select(_ => (byte)_random.Next(256))];
        }
        var at = _random.Next(body.Length);
        switch (_random.Next(9))
        {
            case 0:
                mutations.Add($"flip bit at {at}");
                return [.. body[..at], (byte)(body[at] ^ (1 << _random.Next(8))), .. body[(at + 1)..]];
            case 1:
                mutations.Add($"truncate at {at}");
                return body[..at];
            case 2:
                var special = SpecialBytes[_random.Next(SpecialBytes.Length)];
                mutations.Add($"insert 0x{special:X2} at {at}");
                return [.. body[..at], special, .. body[at..]];
            case 3:
                var length = Math.Min(body.Length - at, 1 + _random.Next(16));
                mutations.Add($"delete {length} at {at}");
                return [.. body[..at], .. body[(at + length)..]];
            case 4:
                var span = Math.Min(body.Length - at, 1 + _random.Next(32));
                mutations.Add($"duplicate {span} at {at}");
                return [.. body[..(at + span)], .. body[at..]];
            case 5:
                mutations.Add("append garbage");
                return [.. body, .. "}]\" ,x"u8.ToArray()[.._random.Next(1, 7)]];
            case 6:
                mutations.Add("prepend BOM");
                return [0xEF, 0xBB, 0xBF, .. body];
            case 7:
                mutations.Add($"random byte at {at}");
                return [.. body[..at], (byte)_random.Next(256), .. body[(at + 1)..]];
            default:
                mutations.Add("empty body");
                return [];
        }
    }

    private byte[] MutateJson(byte[] body, List<string> mutations)
    {
        try
        {
            return MutateJsonObject(body, mutations);
        }
        catch (ArgumentException)
        {
            // Duplicate keys (an earlier mutation) do not fit a JsonObject: mutate the bytes instead.
            return MutateBytes(body, mutations);
        }
    }

    private byte[] MutateJsonObject(byte[] body, List<string> mutations)
    {
        JsonObject? root;
        try
        {
            // JsonNode reads strings lazily: invalid UTF-8 inside one would only throw later.
            root = System.Text.Unicode.Utf8.IsValid(body) ? JsonNode.Parse(body) as JsonObject : null;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            // Not JSON any more (or not UTF-8): mutate the bytes instead.
            root = null;
        }
        if (root is null)
        {
            return MutateBytes(body, mutations);
        }
        var text = root.ToJsonString();
        switch (_random.Next(7))
        {
            case 0 when root.Count > 0:
                var removed = root.ElementAt(_random.Next(root.Count)).Key;
                root.Remove(removed);
                mutations.Add("delete field " + removed);
                return Encoding.UTF8.GetBytes(root.ToJsonString());
            case 1:
            case 2:
                var field = _random.Next(3) == 0 && root.Count > 0 ? root.ElementAt(_random.Next(root.Count)).Key : KnownFields[_random.Next(KnownFields.Length)];
                var value = OddValues[_random.Next(OddValues.Length)];
                root[field] = JsonNode.Parse(value);
                mutations.Add($"{field}={(value.Length > 30 ? value[..30] + "…" : value)}");
                return Encoding.UTF8.GetBytes(root.ToJsonString());
            case 3:
                var depth = 10 + _random.Next(5_000);
                mutations.Add($"nest {depth} deep");
                return Encoding.UTF8.GetBytes(text[..^1] + ",\"deep\":" + new string('[', depth) + new string(']', depth) + "}");
            case 4:
                var key = KnownFields[_random.Next(KnownFields.Length)];
                var duplicate = OddValues[_random.Next(OddValues.Length)];
                mutations.Add($"duplicate key {key}");
                return Encoding.UTF8.GetBytes("{\"" + key + "\":" + duplicate + "," + text[1..]);
            case 5:
                mutations.Add("wrap in array");
                return Encoding.UTF8.GetBytes("[" + text + "]");
            default:
                var scalar = OddValues[_random.Next(OddValues.Length)];
                mutations.Add("body is " + (scalar.Length > 30 ? scalar[..30] + "…" : scalar));
                return Encoding.UTF8.GetBytes(scalar);
        }
    }

    private string MutatePath(string target, bool raw, List<string> mutations)
    {
        var question = target.IndexOf('?', StringComparison.Ordinal);
        var path = question < 0 ? target : target[..question];
        var query = question < 0 ? "" : target[question..];
        switch (_random.Next(raw ? 6 : 5))
        {
            case 0 when path.StartsWith("/openai/deployments/", StringComparison.Ordinal):
                var rest = path["/openai/deployments/".Length..];
                var deployment = Deployments[_random.Next(Deployments.Length)];
                mutations.Add("deployment " + (deployment.Length > 30 ? "long" : deployment));
                return "/openai/deployments/" + deployment + rest[rest.IndexOf('/', StringComparison.Ordinal)..] + query;
            case 1:
                var operation = Operations[_random.Next(Operations.Length)];
                mutations.Add("operation " + operation);
                var prefix = path.StartsWith("/openai/deployments/", StringComparison.Ordinal) ? path[..(path.IndexOf('/', "/openai/deployments/".Length) + 1)]
                    : path.StartsWith("/openai/v1/", StringComparison.Ordinal) ? "/openai/v1/" : "/v1/";
                return prefix + operation + query;
            case 2:
                var newQuery = Queries[_random.Next(Queries.Length)];
                mutations.Add("query " + (newQuery.Length > 30 ? "long" : newQuery));
                return path + newQuery;
            case 3:
                var slashes = path.Select((c, i) => (c, i)).Where(x => x.c == '/').Select(x => x.i).ToArray();
                var slash = slashes[_random.Next(slashes.Length)];
                mutations.Add("double slash");
                return path[..slash] + "/" + path[slash..] + query;
            case 4:
                var style = _random.Next(3) switch { 0 => "/openai/v1/", 1 => "/v1/", _ => "/openai/deployments/chat/" };
                mutations.Add("prefix " + style);
                var op = path.EndsWith("embeddings", StringComparison.Ordinal) ? "embeddings" : path.EndsWith("chat/completions", StringComparison.Ordinal) ? "chat/completions" : "completions";
                return style + op + query;
            default:
                // Only a raw socket sends dot segments unnormalised.
                mutations.Add("dot segment");
                return path.Replace("/openai/", _random.Next(2) == 0 ? "/openai/../openai/x/../" : "/openai/%2e%2e/", StringComparison.Ordinal) + query;
        }
    }

    private void MutateHeaders(List<KeyValuePair<string, string>> headers, List<string> mutations)
    {
        void Set(string name, string? value)
        {
            headers.RemoveAll(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase));
            if (value is not null)
            {
                headers.Add(new(name, value));
            }
        }
        switch (_random.Next(10))
        {
            case 0:
                Set("api-key", null);
                mutations.Add("no key");
                break;
            case 1:
                Set("api-key", "wrong-" + _random.Next());
                mutations.Add("wrong key");
                break;
            case 2:
                Set("api-key", new string('k', 1 + _random.Next(5_000)));
                mutations.Add("long key");
                break;
            case 3:
                Set("api-key", null);
                headers.Add(new("Authorization", _random.Next(3) switch { 0 => "Bearer ", 1 => "Bearer " + BadInputGateway.Key, _ => "Basic " + BadInputGateway.Key }));
                mutations.Add("authorization header");
                break;
            case 4:
                headers.Add(new("Authorization", "Bearer other-" + _random.Next()));
                mutations.Add("bearer and api-key differ");
                break;
            case 5:
            case 6:
                var type = ContentTypes[_random.Next(ContentTypes.Length)];
                Set("Content-Type", type);
                mutations.Add("content-type " + type);
                break;
            case 7:
                Set("Content-Type", null);
                mutations.Add("no content-type");
                break;
            case 8:
                headers.Add(new("X-Junk-" + _random.Next(100), new string('j', _random.Next(2_000))));
                mutations.Add("junk header");
                break;
            default:
                headers.Add(new("Accept-Encoding", "gzip, br"));
                headers.Add(new("Expect", "100-continue"));
                mutations.Add("accept-encoding and expect");
                break;
        }
    }
}
