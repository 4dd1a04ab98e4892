using Butterfly.Application.Configuration;
using Mediator;
using Microsoft.Extensions.DependencyInjection;

namespace Butterfly.Application;

public static class DependencyInjection
{
    /// <summary>
    /// Registers the mediator (handlers as singletons: they hold no per-request state) and
    /// the <see cref="ConfigurationStore"/>. The host registers IEventStore, IDataPath and
    /// IHostControl itself, and may register ILogger / TimeProvider.
    /// </summary>
    public static IServiceCollection AddButterflyApplication(this IServiceCollection services)
    {
        services.AddMediator((MediatorOptions options) =>
        {
            options.ServiceLifetime = ServiceLifetime.Singleton;
            options.Namespace = "Butterfly.Application.Mediator";

            // Internal so that another project using the generator cannot clash with ours.
            options.GenerateTypesAsInternal = true;
        });
        services.AddSingleton<ConfigurationStore>();
        return services;
    }
}
