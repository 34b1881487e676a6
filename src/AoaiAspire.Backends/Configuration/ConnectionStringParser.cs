namespace AoaiAspire.Backends.Configuration;

/// <summary>Reads the <c>Key=Value;Key=Value</c> connection strings Aspire hands to services.</summary>
internal static class ConnectionStringParser
{
    public static Dictionary<string, string> Parse(string connectionString)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                // A bare URL is accepted as the endpoint (some tools hand over just that).
                if (Uri.TryCreate(part, UriKind.Absolute, out _))
                {
                    values["Endpoint"] = part;
                }
                continue;
            }
            values[part[..eq].Trim()] = part[(eq + 1)..].Trim();
        }
        return values;
    }
}
