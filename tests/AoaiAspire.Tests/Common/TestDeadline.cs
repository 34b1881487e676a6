namespace AoaiAspire.Tests.Common;

/// <summary>
/// A deadline for reading a response body: HttpClient's timeout ends when the headers arrive, so a stream that
/// stalls would otherwise hold a test (and the run) forever instead of failing it.
/// </summary>
internal static class TestDeadline
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(60);

    /// <summary>A token that cancels after <see cref="Default"/>.</summary>
    public static CancellationToken Token => new CancellationTokenSource(Default).Token;
}
