using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace AoaiAspire.Gateway.Status;

/// <summary>
/// The <c>/status</c> page: one self-contained HTML file (inline CSS and JS, no fonts, scripts or images from
/// elsewhere), embedded in the assembly. Its inline blocks are allowed by hash in the Content-Security-Policy,
/// so nothing else can run in the page even if a backend name carried markup (the script only uses textContent).
/// </summary>
internal static partial class StatusPage
{
    private const string ResourceName = "AoaiAspire.Gateway.Status.StatusPage.html";

    private static readonly Lazy<(byte[] Html, string Policy)> Page = new(Load);

    public static Task WriteAsync(HttpResponse response)
    {
        var (html, policy) = Page.Value;
        response.ContentType = "text/html; charset=utf-8";
        response.ContentLength = html.Length;
        var headers = response.Headers;
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = policy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        return response.Body.WriteAsync(html).AsTask();
    }

    private static (byte[], string) Load()
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource {ResourceName} is missing.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var html = reader.ReadToEnd();
        var policy = "default-src 'none'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
            + "script-src " + Hashes(ScriptBlock(), html) + "; style-src " + Hashes(StyleBlock(), html);
        return (Encoding.UTF8.GetBytes(html), policy);
    }

    private static string Hashes(Regex block, string html)
        => string.Join(' ', block.Matches(html).Select(m => $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(m.Groups[1].Value)))}'"));

    [GeneratedRegex("<script>(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex ScriptBlock();

    [GeneratedRegex("<style>(.*?)</style>", RegexOptions.Singleline)]
    private static partial Regex StyleBlock();
}
