using System.Collections.Concurrent;
using AoaiAspire.Simulator;
using AoaiAspire.Tests.Common;
using Microsoft.Playwright;
using static AoaiAspire.Tests.Status.StatusTestKit;
using static Microsoft.Playwright.Assertions;

namespace AoaiAspire.Tests.Status;

/// <summary>
/// The <c>/status</c> page in a real headless Chromium, over a gateway in front of three simulated regions with
/// traffic running. Uses the system's Chromium (Playwright's driver ships in the package; its browser downloads are
/// not needed): <c>AOAI_TEST_CHROMIUM</c> names the executable, else the usual install locations are tried.
/// </summary>
public sealed class StatusPageBrowserTests
{
    private static readonly float Timeout = 30_000;

    [Fact]
    public async Task StatusPageListsEveryBackendAndShowsAThrottledOneAsItHappens()
    {
        await using var sims = await SimulatorHost.StartAsync([Simulators.Account("eastus"), Simulators.Account("eastus2"), Simulators.Account("canadaeast")]);
        await using var gateway = await GatewayTestHost.StartAsync(Settings(sims, [1, 1, 2]));
        using var traffic = new CancellationTokenSource();
        var load = DriveTrafficAsync(gateway.Client, traffic.Token);
        try
        {
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumExecutable(),
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            await using var context = await browser.NewContextAsync(new BrowserNewContextOptions
            {
                ViewportSize = new ViewportSize { Width = 1440, Height = 1000 },
                ColorScheme = ColorScheme.Light,
                Locale = "en-GB",
            });
            var page = await context.NewPageAsync();
            var urls = new ConcurrentQueue<string>();
            page.Request += (_, request) => urls.Enqueue(request.Url);
            var scriptErrors = new ConcurrentQueue<string>();
            page.PageError += (_, error) => scriptErrors.Enqueue(error);

            await page.GotoAsync(new Uri(gateway.Address, "/status").AbsoluteUri);

            // The page holds no data: it asks for the key, then polls with it.
            await Expect(page.GetByTestId("key-form")).ToBeVisibleAsync(new() { Timeout = Timeout });
            await page.GetByTestId("admin-key").FillAsync(AdminKey);
            await page.GetByTestId("key-submit").ClickAsync();
            await Expect(page.GetByTestId("key-form")).ToBeHiddenAsync(new() { Timeout = Timeout });

            var rows = page.Locator("[data-testid=backend-row]");
            await Expect(rows).ToHaveCountAsync(3, new() { Timeout = Timeout });
            foreach (var (name, group) in new[] { ("eastus", 1), ("eastus2", 1), ("canadaeast", 2) })
            {
                await Expect(page.Locator($"[data-group='{group}'] [data-backend='{name}']")).ToBeVisibleAsync();
            }
            await Expect(page.Locator("[data-backend='eastus']")).ToHaveAttributeAsync("data-state", "available");
            await Expect(page.Locator("[data-backend='eastus'] [data-testid=in-flight]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d"));
            await Expect(page.GetByTestId("hedging")).ToContainTextAsync("off"); // no deployment hedges in this configuration
            // The admission queue's classes, none waiting (no consumer here may wait).
            await Expect(page.Locator("[data-admission-class='interactive'] [data-testid=admission-queued]")).ToHaveTextAsync("0", new() { Timeout = Timeout });
            await Expect(page.Locator("[data-admission-class='batch'] [data-testid=admission-queued]")).ToHaveTextAsync("0");

            // Charts fill from the sampler (one column per 5 s) while traffic runs.
            await Expect(page.Locator("#chart-tokens-consumer rect[data-series]").First).ToBeVisibleAsync(new() { Timeout = Timeout });

            sims["eastus"].Faults = new FaultOptions { ForceThrottle = TimeSpan.FromSeconds(60) };

            var eastus = page.Locator("[data-testid=backend-row][data-backend='eastus']");
            await Expect(eastus).ToHaveAttributeAsync("data-state", "throttled", new() { Timeout = Timeout });
            await Expect(eastus.GetByTestId("state")).ToContainTextAsync("throttled until");
            await Expect(page.Locator("[data-testid=event][data-kind=throttled][data-event-backend=eastus]").First).ToBeVisibleAsync(new() { Timeout = Timeout });
            await Expect(page.Locator("[data-backend='eastus2']")).ToHaveAttributeAsync("data-state", "available");
            await Expect(page.GetByTestId("connection")).ToHaveAttributeAsync("data-status", "live");

            var screenshot = Path.Combine(AppContext.BaseDirectory, "status-page.png");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            Assert.True(new FileInfo(screenshot).Length > 10_000, "a screenshot with content was written");

            Assert.Empty(scriptErrors);
            Assert.DoesNotContain(urls, url => url.Contains(AdminKey, StringComparison.Ordinal));
            Assert.Contains(urls, url => url.EndsWith("/admin/backends", StringComparison.Ordinal));
        }
        finally
        {
            await traffic.CancelAsync();
            await load;
        }
    }

    /// <summary>A bounded, paced loop of chat calls from two consumers until cancelled (at most two minutes).</summary>
    private static async Task DriveTrafficAsync(HttpClient client, CancellationToken cancellationToken)
    {
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        try
        {
            for (var i = 0; i < 1200 && await pace.WaitForNextTickAsync(cancellationToken); i++)
            {
                var (_, key) = Consumers[i % 3 == 0 ? 1 : 0];
                using var request = Chat(key, maxTokens: 5 + (i % 4 * 10));
                using var response = await client.SendAsync(request, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private static string? ChromiumExecutable()
    {
        if (Environment.GetEnvironmentVariable("AOAI_TEST_CHROMIUM") is { Length: > 0 } configured)
        {
            return configured;
        }
        // Null: Playwright's own browser, if one was installed with `playwright install`.
        return new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);
    }
}
