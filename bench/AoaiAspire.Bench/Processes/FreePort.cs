using System.Net;
using System.Net.Sockets;

namespace AoaiAspire.Bench.Processes;

/// <summary>Loopback ports for child processes that need a fixed one (the standalone simulator, nginx).</summary>
internal static class FreePort
{
    private static readonly HashSet<int> Given = [];

    /// <summary>A port nobody listened on a moment ago; never the same one twice in a run.</summary>
    public static int Next()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            lock (Given)
            {
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
