using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace AoaiAspire.Backends.Redis;

/// <summary>One Redis server address.</summary>
internal readonly record struct RedisEndPoint(string Host, int Port)
{
    public override string ToString() =>
        Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>
/// Settings of a <see cref="RedisClient"/>, parsed from a connection string in the format used by
/// StackExchange.Redis and Aspire (<c>ConnectionStrings:redis</c>):
/// <c>host:port[,host2:port][,password=…][,user=…][,ssl=true][,abortConnect=false][,connectTimeout=ms][,syncTimeout=ms][,defaultDatabase=n][,name=…][,sslHost=…]</c>.
/// Unknown keys are ignored; a bad value fails with a <see cref="FormatException"/> naming the key.
/// </summary>
internal sealed class RedisConnectionOptions
{
    /// <summary>The configuration key holding the connection string (<c>ConnectionStrings:redis</c>).</summary>
    public const string ConnectionStringName = "redis";

    public const int DefaultPort = 6379;
    public const int DefaultSslPort = 6380;

    /// <summary>Servers to try, in order. At least one.</summary>
    public IReadOnlyList<RedisEndPoint> EndPoints { get; init; } = [];

    /// <summary>ACL user name for AUTH; null means the default user.</summary>
    public string? User { get; init; }

    /// <summary>Password for AUTH; null means no AUTH. Never printed by <see cref="ToString"/>.</summary>
    public string? Password { get; init; }

    /// <summary>Wrap the connection in TLS. Default false.</summary>
    public bool Ssl { get; init; }

    /// <summary>Host name expected on the server's TLS certificate; default: the endpoint's host.</summary>
    public string? SslHost { get; init; }

    /// <summary>
    /// Parsed for compatibility only: this client always behaves as <c>abortConnect=false</c>
    /// (start never fails; it keeps connecting in the background), because the gateway must
    /// serve without Redis. Default false.
    /// </summary>
    public bool AbortConnect { get; init; }

    /// <summary>Time allowed to open a connection, including TLS and AUTH. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed for one command's reply. Default 5 s.</summary>
    public TimeSpan SyncTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Database selected on every (re)connect. Default 0.</summary>
    public int DefaultDatabase { get; init; }

    /// <summary>Name sent with CLIENT SETNAME on every (re)connect; null sends nothing.</summary>
    public string? ClientName { get; init; }

    /// <summary>
    /// Reads <c>ConnectionStrings:redis</c>; null when it is absent or empty (Redis not configured).
    /// </summary>
    public static RedisConnectionOptions? FromConfiguration(IConfiguration configuration, string name = ConnectionStringName)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var value = configuration.GetConnectionString(name);
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        try
        {
            return Parse(value);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"ConnectionStrings:{name}: {ex.Message}", ex);
        }
    }

    /// <summary>Parses a connection string; see the type's summary for the format.</summary>
    /// <exception cref="FormatException">A value is malformed (the message names the key, never the password).</exception>
    public static RedisConnectionOptions Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);

        var hosts = new List<string>();
        string? user = null, password = null, sslHost = null, clientName = null;
        bool ssl = false, abortConnect = false;
        var connectTimeout = TimeSpan.FromSeconds(5);
        var syncTimeout = TimeSpan.FromSeconds(5);
        var database = 0;

        foreach (var rawPart in connectionString.Split(','))
        {
            var part = rawPart.Trim();
            if (part.Length == 0)
            {
                continue;
            }

            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                hosts.Add(part);
                continue;
            }

            var key = part[..eq].Trim();
            var value = part[(eq + 1)..].Trim();
            switch (key.ToLowerInvariant())
            {
                case "password":
                    password = value.Length == 0 ? null : value;
                    break;
                case "user":
                    user = value.Length == 0 ? null : value;
                    break;
                case "ssl":
                    ssl = ParseBool(key, value);
                    break;
                case "sslhost":
                    sslHost = value.Length == 0 ? null : value;
                    break;
                case "abortconnect":
                    abortConnect = ParseBool(key, value);
                    break;
                case "connecttimeout":
                    connectTimeout = ParseMilliseconds(key, value);
                    break;
                case "synctimeout":
                    syncTimeout = ParseMilliseconds(key, value);
                    break;
                case "defaultdatabase":
                    database = ParseInt(key, value);
                    break;
                case "name":
                    clientName = value.Length == 0 ? null : value;
                    break;
                default:
                    // Unknown keys (allowAdmin, asyncTimeout, …) are ignored, as the brief asks:
                    // connection strings written for StackExchange.Redis must still work.
                    break;
            }
        }

        if (hosts.Count == 0)
        {
            throw new FormatException("The Redis connection string names no host (expected 'host:port' before the first key=value pair).");
        }

        var endPoints = new RedisEndPoint[hosts.Count];
        for (var i = 0; i < hosts.Count; i++)
        {
            endPoints[i] = ParseEndPoint(hosts[i], ssl ? DefaultSslPort : DefaultPort);
        }

        return new RedisConnectionOptions
        {
            EndPoints = endPoints,
            User = user,
            Password = password,
            Ssl = ssl,
            SslHost = sslHost,
            AbortConnect = abortConnect,
            ConnectTimeout = connectTimeout,
            SyncTimeout = syncTimeout,
            DefaultDatabase = database,
            ClientName = clientName,
        };
    }

    /// <summary>The connection string with the password masked; safe to log.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', EndPoints);
        if (User is not null)
        {
            sb.Append(",user=").Append(User);
        }

        if (Password is not null)
        {
            sb.Append(",password=*****");
        }

        if (Ssl)
        {
            sb.Append(",ssl=true");
        }

        if (SslHost is not null)
        {
            sb.Append(",sslHost=").Append(SslHost);
        }

        sb.Append(",abortConnect=").Append(AbortConnect ? "true" : "false");
        sb.Append(",connectTimeout=").Append((long)ConnectTimeout.TotalMilliseconds);
        sb.Append(",syncTimeout=").Append((long)SyncTimeout.TotalMilliseconds);
        if (DefaultDatabase != 0)
        {
            sb.Append(",defaultDatabase=").Append(DefaultDatabase);
        }

        if (ClientName is not null)
        {
            sb.Append(",name=").Append(ClientName);
        }

        return sb.ToString();
    }

    private static RedisEndPoint ParseEndPoint(string text, int defaultPort)
    {
        string host;
        string? port = null;
        if (text.StartsWith('['))
        {
            // [::1]:6379
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw new FormatException($"Invalid Redis endpoint '{text}': missing ']'.");
            }

            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    throw new FormatException($"Invalid Redis endpoint '{text}'.");
                }

                port = rest[1..];
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon >= 0 && text.IndexOf(':', StringComparison.Ordinal) == colon)
            {
                host = text[..colon];
                port = text[(colon + 1)..];
            }
            else
            {
                // No colon, or a bare IPv6 address without brackets (no port possible).
                host = text;
            }
        }

        if (host.Length == 0)
        {
            throw new FormatException($"Invalid Redis endpoint '{text}': empty host.");
        }

        var portNumber = defaultPort;
        if (port is not null
            && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out portNumber) || portNumber is < 1 or > 65535))
        {
            throw new FormatException($"Invalid Redis endpoint '{text}': the port must be a number from 1 to 65535.");
        }

        return new RedisEndPoint(host, portNumber);
    }

    private static bool ParseBool(string key, string value) =>
        bool.TryParse(value, out var result)
            ? result
            : throw new FormatException($"Invalid value '{value}' for '{key}' in the Redis connection string: expected true or false.");

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw new FormatException($"Invalid value '{value}' for '{key}' in the Redis connection string: expected a non-negative integer.");

    private static TimeSpan ParseMilliseconds(string key, string value)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms == 0)
        {
            throw new FormatException($"Invalid value '{value}' for '{key}' in the Redis connection string: expected a positive number of milliseconds.");
        }

        return TimeSpan.FromMilliseconds(ms);
    }
}
