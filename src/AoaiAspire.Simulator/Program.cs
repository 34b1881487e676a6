// Standalone simulator: see README "Simulator". Implemented in the simulator issue work.
Console.WriteLine("not yet");
