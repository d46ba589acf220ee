# Loads vagrant/Vagrantfile against a stand-in for the part of Vagrant's configuration API it
# uses (Vagrant.configure, config.vm.define/box/hostname/network/provider/provision/
# synced_folder), records what it declares, and checks it: four machines with distinct
# hostnames and private addresses, a box each, and provisioners whose files exist. Catches
# what `ruby -c` cannot (a typo in a method name, a script renamed, a missing env setting)
# without Vagrant or a hypervisor. Usage: ruby vagrant/check/vagrantfile.rb vagrant/Vagrantfile
require "set"

module Vagrant
  # Records every call made on it; nested blocks get their own recorder.
  class Recorder
    attr_reader :calls

    def initialize
      @calls = []
    end

    def method_missing(name, *args, **kwargs, &block)
      if name.to_s.end_with?("=")
        @calls << [name.to_s.chomp("="), [args.first], {}]
        return args.first
      end
      child = Recorder.new
      @calls << [name.to_s, args, kwargs, child]
      block&.call(child)
      child
    end

    def respond_to_missing?(*) = true

    def find(name) = @calls.select { |c| c[0] == name }
  end

  def self.configure(version)
    raise "Vagrant.configure(#{version.inspect}): expected \"2\"" unless version == "2"
    @root = Recorder.new
    yield @root
  end

  def self.root = @root
end

path = ARGV.fetch(0)
load path

failures = []
vm = Vagrant.root.find("vm").map(&:last)
defines = vm.flat_map { |r| r.find("define") }
failures << "expected 4 machines, found #{defines.size}" unless defines.size == 4
hostnames = Set.new
ips = Set.new
defines.each do |(_, args, _, machine)|
  name = args.first
  inner = machine.find("vm").map(&:last)
  box = inner.flat_map { |r| r.find("box") }.map { |c| c[1].first }.compact
  failures << "#{name}: no box" if box.empty?
  host = inner.flat_map { |r| r.find("hostname") }.map { |c| c[1].first }.first
  failures << "#{name}: hostname #{host.inspect} is not the machine's name" unless host == name
  failures << "#{name}: hostname used twice" unless hostnames.add?(host)
  nets = inner.flat_map { |r| r.find("network") }
  ip = nets.map { |c| c[2][:ip] }.compact.first
  failures << "#{name}: no private_network ip" unless ip
  failures << "#{name}: ip #{ip} used twice" if ip && !ips.add?(ip)
  provs = inner.flat_map { |r| r.find("provision") }
  shells = provs.select { |c| c[1].first == "shell" && c[2][:path] }
  failures << "#{name}: expected one shell provisioner with a path" unless shells.size == 1
  shells.each do |(_, _, opts, _)|
    failures << "#{name}: #{opts[:path]} does not exist" unless File.file?(opts[:path])
    env = opts[:env] || {}
    %w[K8S_MINOR PROVISION_DIR].each do |key|
      failures << "#{name}: provisioner env lacks #{key}" unless env[key].is_a?(String) && !env[key].empty?
    end
  end
  files = provs.select { |c| c[1].first == "file" }
  failures << "#{name}: no file provisioner uploading the scripts" if files.empty?
  files.each do |(_, _, opts, _)|
    failures << "#{name}: file source #{opts[:source]} is not a directory" unless File.directory?(opts[:source].to_s)
  end
  puts "#{name}: box #{box.first}, #{ip}, #{shells.map { |c| File.basename(c[2][:path]) }.join(', ')}"
end

if failures.empty?
  puts "Vagrantfile: #{defines.size} machines declared as expected"
else
  failures.each { |f| warn "Vagrantfile: #{f}" }
  exit 1
end
