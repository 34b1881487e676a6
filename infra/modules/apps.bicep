// The Container Apps environment (in its own virtual network: Redis needs TCP ingress) and the three apps:
// Redis and the health probe internal, the gateway external with 2-10 replicas scaled on concurrent requests.
param token string
param location string
param tags object
param workspaceId string
param registryServer string
param identityId string
param identityClientId string

@description('The Azure OpenAI accounts as gateway backends: name (the region), priority, weight, endpoint.')
param backends backendType[]
param deploymentNames string[]
param gatewayMinReplicas int
param gatewayMaxReplicas int
param gatewayConcurrentRequests int
param routingPolicy string
param gatewayImage string
param healthProbeImage string
param redisImage string

@secure()
param redisPassword string

@secure()
param callerKey string

@secure()
param adminKey string

type backendType = {
  name: string
  priority: int
  weight: int
  endpoint: string
}

// Until azd deploys the real images.
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
var registries = [
  {
    server: registryServer
    identity: identityId
  }
]

// Gateway:Backends:{region}:* for both the gateway and the probe: the account's endpoint and no ApiKey, so both
// authenticate with Entra ID (DefaultAzureCredential picks the identity named by AZURE_CLIENT_ID).
var backendSettings = flatten(map(backends, b => concat([
  { name: 'Gateway__Backends__${b.name}__Endpoint', value: b.endpoint }
  { name: 'Gateway__Backends__${b.name}__Region', value: b.name }
  { name: 'Gateway__Backends__${b.name}__Priority', value: string(b.priority) }
  { name: 'Gateway__Backends__${b.name}__Weight', value: string(b.weight) }
], map(deploymentNames, d => { name: 'Gateway__Backends__${b.name}__Deployments__${d}', value: d }))))

var commonSettings = [
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'AZURE_TOKEN_CREDENTIALS', value: 'ManagedIdentityCredential' }
  { name: 'ConnectionStrings__redis', secretRef: 'redis-connection' }
  { name: 'ASPNETCORE_URLS', value: 'http://+:8080' }
]

var redisSecrets = [
  { name: 'redis-connection', value: 'redis:6379,password=${redisPassword}' }
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${token}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: ['10.40.0.0/16']
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: '10.40.0.0/23'
          delegations: [
            {
              name: 'apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-${token}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    vnetConfiguration: {
      infrastructureSubnetId: vnet.properties.subnets[0].id
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: environment
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource redis 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'redis'
  location: location
  tags: tags
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: false
        transport: 'tcp'
        targetPort: 6379
        exposedPort: 6379
      }
      secrets: [
        { name: 'redis-password', value: redisPassword }
      ]
    }
    template: {
      containers: [
        {
          name: 'redis'
          image: redisImage
          // The password from the environment, not from the command line of the app's definition.
          command: ['/bin/sh', '-c', 'exec redis-server --save "" --appendonly no --requirepass "$REDIS_PASSWORD"']
          env: [
            { name: 'REDIS_PASSWORD', secretRef: 'redis-password' }
          ]
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
}

resource healthProbe 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'health-probe'
  location: location
  tags: union(tags, { 'azd-service-name': 'health-probe' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: false
        targetPort: 8080
        transport: 'http'
      }
      registries: registries
      secrets: redisSecrets
    }
    template: {
      containers: [
        {
          name: 'health-probe'
          image: empty(healthProbeImage) ? placeholderImage : healthProbeImage
          env: concat(commonSettings, backendSettings)
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
  dependsOn: [redis]
}

resource gateway 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'gateway'
  location: location
  tags: union(tags, { 'azd-service-name': 'gateway' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
      }
      registries: registries
      secrets: concat(redisSecrets, [
        { name: 'caller-key', value: callerKey }
        { name: 'admin-key', value: adminKey }
      ])
    }
    template: {
      containers: [
        {
          name: 'gateway'
          image: empty(gatewayImage) ? placeholderImage : gatewayImage
          env: concat(commonSettings, backendSettings, [
            { name: 'Gateway__Consumers__default__Keys__0', secretRef: 'caller-key' }
            { name: 'Gateway__AdminKey', secretRef: 'admin-key' }
            { name: 'Gateway__Routing__Policy', value: routingPolicy }
          ])
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
        }
      ]
      scale: {
        minReplicas: gatewayMinReplicas
        maxReplicas: gatewayMaxReplicas
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(gatewayConcurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
  dependsOn: [redis, healthProbe]
}

output environmentId string = environment.id
output gatewayUrl string = 'https://${gateway.properties.configuration.ingress.fqdn}'
