using AoaiAspire.AppHost.Tests.Common;
using Microsoft.Playwright;
using AoaiAspire.Tests.Common;
using static Microsoft.Playwright.Assertions;

namespace AoaiAspire.AppHost.Tests;

/// <summary>
/// The Aspire dashboard of the running app in a real browser (Debian's Chromium through Playwright: a plain headless
/// screenshot of this Blazor app is blank). Writes aspire-dashboard.png next to the test assembly; docs/ holds a copy.
/// </summary>
[Collection(RunningAppCollection.Name)]
public sealed class DashboardBrowserTests(RunningAppFixture fixture)
{
    private static readonly float Timeout = (float)RunningAppFixture.WaitTimeout.TotalMilliseconds;

    [Fact]
    public async Task DashboardListsEveryResourceRunning()
    {
        var dashboard = fixture.App.GetEndpoint("aspire-dashboard", "http");
        // Every resource is healthy before the page is opened (the fixture waited), so the grid settles at once.
        foreach (var name in RunningAppFixture.AppResourceNames(fixture.App))
        {
            await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync(name).WaitAsync(RunningAppFixture.WaitTimeout);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists),
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1600, Height = 900 },
            ColorScheme = ColorScheme.Light,
            Locale = "en-GB",
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(Timeout);

        await page.GotoAsync(dashboard.ToString());

        // The resources table: every resource the AppHost declares, each Running (a gateway row per replica, or one
        // row grouping them), none Unhealthy.
        var table = page.GetByRole(AriaRole.Region, new() { Name = "Resources" }).GetByRole(AriaRole.Table);
        await Expect(table).ToBeVisibleAsync(new() { Timeout = Timeout });
        foreach (var name in new[] { "redis", "sim-eastus", "sim-eastus2", "sim-canadaeast", "health-probe", "gateway" })
        {
            await Expect(table.GetByText(name, new() { Exact = false }).First).ToBeVisibleAsync(new() { Timeout = Timeout });
        }

        var running = table.GetByText("Running", new() { Exact = true });
        await Wait.UntilAsync(async () => await running.CountAsync() >= 6, RunningAppFixture.WaitTimeout, "six resources Running in the dashboard");
        Assert.Equal(0, await table.GetByText("Unhealthy", new() { Exact = false }).CountAsync());

        var screenshot = Path.Combine(AppContext.BaseDirectory, "aspire-dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot });
        Assert.True(new FileInfo(screenshot).Length > 20_000, "a screenshot with content was written");
    }
}
