namespace AoaiAspire.Gateway.Quotas;

/// <summary>Used until consumer quotas are configured: everyone is admitted.</summary>
internal sealed class UnlimitedConsumerQuotas : IConsumerQuotas
{
    public QuotaDecision TryAdmit(string consumer, string deployment, long estimatedTokens) => QuotaDecision.Unlimited;

    public void Correct(in QuotaReservation reservation, long actualTokens)
    {
    }
}
